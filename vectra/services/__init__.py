"""The use cases. They know nothing of HTTP or gRPC; the rules of the product live here."""

from vectra.cli import main

raise SystemExit(main())

// How the console writes times, risks and bodies: pure functions of the API's values.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const HIGH_RISK = 0.8;
const MEDIUM_RISK = 0.5;

// "1 h 05 min", "4 min 07 s", "12 s", "expired"
export function timeLeft(ms) {
  if (ms <= 0) return "expired";
  const hours = Math.floor(ms / HOUR);
  const minutes = Math.floor((ms % HOUR) / MINUTE);
  const seconds = Math.floor((ms % MINUTE) / SECOND);
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  if (minutes > 0) return `${minutes} min ${String(seconds).padStart(2, "0")} s`;
  return `${seconds} s`;
}

// "just now", "3 min ago", "2 h ago", "4 days ago"
export function ago(ms) {
  if (ms < MINUTE) return "just now";
  if (ms < HOUR) return `${Math.floor(ms / MINUTE)} min ago`;
  if (ms < 24 * HOUR) return `${Math.floor(ms / HOUR)} h ago`;
  const days = Math.floor(ms / (24 * HOUR));
  return days === 1 ? "1 day ago" : `${days} days ago`;
}

export function dateTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function riskLevel(risk) {
  if (risk === null || risk === undefined) return "none";
  if (risk >= HIGH_RISK) return "high";
  return risk >= MEDIUM_RISK ? "medium" : "low";
}

export function riskText(risk) {
  return risk === null || risk === undefined ? "—" : risk.toFixed(2);
}

// The factors that weighed, largest first: [["method", "0.08"], ["path", "0.03"]]
export function riskFactors(factors) {
  return Object.entries(factors || {})
    .filter(([, value]) => value >= 0.005)
    .sort(([, a], [, b]) => b - a)
    .map(([name, value]) => [name.replaceAll("_", " "), value.toFixed(2)]);
}

// {text, note} for a body as the API gives it: JSON pretty-printed, other text as is, base64 said to be base64.
export function bodyView({ body, bodyEncoding, bodySize, bodyTruncated }) {
  const cut = bodyTruncated ? ` Only the first bytes of ${bodySize} are shown.` : "";
  if (bodySize === 0) return { text: "", note: "No body." };
  if (bodyEncoding === "base64") {
    return { text: body, note: `Not UTF-8 text: the ${bytes(bodySize)} are shown base64-encoded.${cut}` };
  }
  try {
    return { text: JSON.stringify(JSON.parse(body), null, 2), note: `JSON, ${bytes(bodySize)}, pretty-printed.${cut}` };
  } catch {
    return { text: body, note: `Text, ${bytes(bodySize)}.${cut}` };
  }
}

function bytes(size) {
  return size === 1 ? "1 byte" : `${size.toLocaleString()} bytes`;
}

export function shortId(id) {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

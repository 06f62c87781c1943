// A small PromQL reader: the metric names an expression selects and the label names it relies on.
// Enough for the alert rules and dashboard queries of this chart (selectors, matchers, functions,
// aggregations with by/without, vector matching with on/ignoring/group_*), not a full parser: it
// never evaluates, and it refuses input it cannot account for (unbalanced brackets) rather than guess.

export interface PromqlReferences {
  /** Metric names selected, in order of appearance (duplicates removed). */
  metrics: string[];
  /** Label names in matchers, per metric they select on. */
  matcherLabels: Map<string, Set<string>>;
  /** Label names in by/without/on/ignoring/group_left/group_right clauses. */
  groupingLabels: Set<string>;
}

// Words that are not metric names when they are not followed by '(' (functions always are).
const keywords = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
  'atan2',
]);

const identifier = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;

function checkBalanced(expr: string): void {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const ch of expr) {
    if (ch === '(' || ch === '[' || ch === '{') stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) throw new Error(`unbalanced "${ch}" in: ${expr}`);
  }
  if (stack.length > 0) throw new Error(`unclosed "${stack.at(-1)}" in: ${expr}`);
}

export function promqlReferences(expr: string): PromqlReferences {
  // String literals first: their content (label values, regexes, Grafana variables) is never a name.
  let text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  checkBalanced(text);
  const matcherLabels = new Map<string, Set<string>>();
  text = text.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
    (_all, name: string | undefined, body: string) => {
      const labels = [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map(
        (m) => m[1] as string,
      );
      const metric = name ?? '';
      const set = matcherLabels.get(metric) ?? new Set<string>();
      for (const l of labels) set.add(l);
      matcherLabels.set(metric, set);
      return ` ${metric} `;
    },
  );
  const groupingLabels = new Set<string>();
  text = text.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_all, _kw, body: string) => {
      for (const l of body.split(',')) if (l.trim() !== '') groupingLabels.add(l.trim());
      return ' ';
    },
  );
  text = text
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\$\{[^}]*\}|\$[a-zA-Z_]\w*/g, ' ') // Grafana variables outside strings
    .replace(/(?<![a-zA-Z_:])\d[\d.]*(?:[eE][+-]?\d+)?[a-zA-Z]*/g, ' '); // numbers and durations
  const metrics: string[] = [];
  for (let i = 0; i < text.length; ) {
    identifier.lastIndex = i;
    const m = identifier.exec(text);
    if (!m) {
      i++;
      continue;
    }
    const word = m[0];
    i += word.length;
    const isCall = /^\s*\(/.test(text.slice(i));
    if (!isCall && !keywords.has(word.toLowerCase()) && !metrics.includes(word)) metrics.push(word);
  }
  for (const name of matcherLabels.keys()) {
    if (name !== '' && !metrics.includes(name)) metrics.push(name);
  }
  return { metrics, matcherLabels, groupingLabels };
}

/**
 * The PromQL inside a Grafana Prometheus templating query: `label_values(expr, label)` is the
 * expression plus one label it reads; `label_values(label)` and `metrics(re)` select no series.
 */
export function grafanaTemplateQuery(query: string): { expr: string; label?: string } | null {
  const labelValues = /^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$/s.exec(query);
  if (labelValues) return { expr: labelValues[1] as string, label: labelValues[2] as string };
  if (/^\s*(label_values|label_names|metrics)\(/.test(query)) return null;
  const result = /^\s*query_result\((.*)\)\s*$/s.exec(query);
  return { expr: result ? (result[1] as string) : query };
}

/**
 * The meteorite classification: every `recclass` name of the Meteoritical Bulletin maps to one
 * `class_type` and one `class_group`, following Weisberg, McCoy and Krot (2006), "Systematics and
 * evaluation of meteorite classification" (in Meteorites and the Early Solar System II), and the
 * Meteoritical Bulletin's class names. docs/classification.md lists every class of the shipped
 * dataset with the rule that placed it (generated from this file by scripts/classification-table.ts).
 *
 * How a name is read: petrologic types (`3`, `3.6`, `4-6`, `~5`), uncertainty marks (`?`, `(?)`)
 * and the suffixes `-an` (anomalous), `-melt breccia`, `-melt rock`, `-imp melt`, `-metal`,
 * `-pmict`, ... do not change the group. Intermediate members (`H/L`, `L/LL`, and `H(L)`,
 * `L(LL)`: a group with the other's affinities) form their own group, written with a slash.
 * A name no rule knows is `Unclassified` / `Unknown`, so a class added to the Bulletin later
 * still gets an answer; a test fails on any class of data/ that only the fallback places.
 */

export const CLASS_TYPES = ['Chondrite', 'Primitive achondrite', 'Achondrite', 'Stony-iron', 'Iron', 'Unclassified'] as const;
export type ClassType = (typeof CLASS_TYPES)[number];

export interface Classification {
  class_type: ClassType;
  class_group: string;
}

interface Rule {
  /** Tested against the trimmed name. */
  pattern: RegExp;
  type: ClassType;
  /** The group, or how to read it from the match. */
  group: string | ((m: RegExpExecArray) => string);
  /** One line for the table in docs/classification.md. */
  says: string;
}

// Petrologic type and its ranges, with the marks of doubt ("3.6", "4-6", "~4", "3/4", "(?)", "<3.5").
const GRADE = String.raw`(?:[<~]?\d(?:\.\d+)?(?:[-/]\d(?:\.\d+)?)?|\(\?\)|\?)*`;
// Suffixes that describe the rock, not its group.
const SUFFIX = String.raw`(?:-an|-ung|-imp melt|-melt breccia|-melt rock|-metal|\s*\(\?\)|\?)*`;

/** Ordinary chondrite group letters with a possible affinity: "H", "L/LL", "H(L)", "L(LL)", "H(5?)" read as H. */
function ordinaryGroup(m: RegExpExecArray): string {
  const main = m[1]!;
  const other = m[2] ?? m[3];
  if (!other || other === '?' || /^\d/.test(other)) return main;
  // H/L and H(L), L(H): one intermediate group; L/LL, L(LL) and LL(L) another.
  return [main, other].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)).join('/');
}
const ORDER = ['H', 'L', 'LL'];

const IRON_GROUPS = String.raw`IAB|IC|IIAB|IIC|IID|IIE|IIF|IIG|IIIAB|IIIE|IIIF|IVA|IVB`;

const rules: Rule[] = [
  // Unclassified first: "Relict H" is a relict, not an H chondrite.
  {
    pattern: /^Relict\b/,
    type: 'Unclassified',
    group: 'Relict',
    says: 'Relict ...: a fossil or weathered remnant whose original class is uncertain',
  },
  {
    pattern: /^Stone-un(?:cl|g)$/,
    type: 'Unclassified',
    group: 'Stone',
    says: 'Stone-uncl, Stone-ung: a stony meteorite not classified further',
  },
  {
    pattern: /^(?:Unknown|Fusion crust|Impact melt breccia)$/,
    type: 'Unclassified',
    group: 'Unknown',
    says: 'Unknown, Fusion crust, Impact melt breccia: too little material or study to classify',
  },

  // Chondrites.
  {
    pattern: new RegExp(String.raw`^(H|LL|L)(?:/(LL|L)|\((H|L|LL|\?|\d\??)\))?${GRADE}${SUFFIX}$`),
    type: 'Chondrite',
    group: ordinaryGroup,
    says: 'H, L, LL ordinary chondrites with any petrologic type; H/L, L/LL, H(L), L(LL), LL(L) intermediates as H/L or L/LL',
  },
  { pattern: new RegExp(String.raw`^OC${GRADE}$`), type: 'Chondrite', group: 'OC', says: 'OC: ordinary chondrite of undetermined group' },
  {
    pattern: new RegExp(String.raw`^(EH|EL)${GRADE}${SUFFIX}$`),
    type: 'Chondrite',
    group: (m) => m[1]!,
    says: 'EH, EL: enstatite chondrites, high- and low-iron',
  },
  {
    pattern: new RegExp(String.raw`^E${GRADE}${SUFFIX}$`),
    type: 'Chondrite',
    group: 'E',
    says: 'E: enstatite chondrite of undetermined group',
  },
  {
    pattern: new RegExp(String.raw`^(CI|CM|CO|CV|CK|CR|CH)${GRADE}${SUFFIX}$`),
    type: 'Chondrite',
    group: (m) => m[1]!,
    says: 'CI, CM, CO, CV, CK, CR, CH: carbonaceous chondrite groups',
  },
  { pattern: /^CB[ab]?$/, type: 'Chondrite', group: 'CB', says: 'CB, CBa, CBb: bencubbinites' },
  { pattern: /^CH\/CBb$/, type: 'Chondrite', group: 'CH/CB', says: 'CH/CBb: intermediate between CH and CB' },
  {
    pattern: new RegExp(String.raw`^C${GRADE}(?:-ung)?$`),
    type: 'Chondrite',
    group: 'C, ungrouped',
    says: 'C, C2, C3-ung, ...: carbonaceous chondrite outside the named groups',
  },
  {
    pattern: new RegExp(String.raw`^(R|K)${GRADE}${SUFFIX}$`),
    type: 'Chondrite',
    group: (m) => m[1]!,
    says: 'R (Rumuruti), K (Kakangari) chondrites',
  },
  {
    pattern: /^Chondrite-(?:ung|fusion crust)$/,
    type: 'Chondrite',
    group: 'Chondrite, ungrouped',
    says: 'Chondrite-ung, Chondrite-fusion crust: a chondrite of no (or no known) group',
  },

  // Primitive achondrites (Weisberg et al. 2006 place ureilites and brachinites here).
  {
    pattern: /^(Acapulcoite|Lodranite)\/(?:Lodranite|lodranite)$/,
    type: 'Primitive achondrite',
    group: 'Acapulcoite/Lodranite',
    says: 'Acapulcoite/Lodranite: the acapulcoite-lodranite clan, between the two',
  },
  {
    pattern: new RegExp(String.raw`^(Acapulcoite|Lodranite|Winonaite|Brachinite|Ureilite)${SUFFIX}(?:-pmict)?$`),
    type: 'Primitive achondrite',
    group: (m) => m[1]!,
    says: 'Acapulcoite, Lodranite, Winonaite, Brachinite, Ureilite (also -an, -pmict)',
  },
  {
    pattern: /^Achondrite-prim$/,
    type: 'Primitive achondrite',
    group: 'Primitive achondrite, ungrouped',
    says: 'Achondrite-prim: ungrouped primitive achondrite',
  },

  // Achondrites.
  {
    pattern: /^(Eucrite|Diogenite|Howardite)(?:-.*)?$/,
    type: 'Achondrite',
    group: (m) => m[1]!,
    says: 'Eucrite, Diogenite, Howardite (the HED group) with their textural suffixes (-pmict, -br, -cm, -mmict, -unbr, -Mg rich, -olivine, -an)',
  },
  { pattern: /^(Angrite|Aubrite)(?:-an)?$/, type: 'Achondrite', group: (m) => m[1]!, says: 'Angrite, Aubrite' },
  {
    pattern: /^Martian(?: \(.*\))?$/,
    type: 'Achondrite',
    group: 'Martian',
    says: 'Martian (shergottite, nakhlite, chassignite, OPX, ...)',
  },
  { pattern: /^Lunar(?: \(.*\))?$/, type: 'Achondrite', group: 'Lunar', says: 'Lunar (anorthosite, basalt, breccias, ...)' },
  {
    pattern: /^Enst achon(?:-ung)?$/,
    type: 'Achondrite',
    group: 'Enstatite achondrite',
    says: 'Enst achon: enstatite achondrite other than an aubrite',
  },
  { pattern: /^Achondrite-ung$/, type: 'Achondrite', group: 'Achondrite, ungrouped', says: 'Achondrite-ung: ungrouped achondrite' },

  // Stony-irons.
  { pattern: /^Pallasite(?:, .*|\?)?$/, type: 'Stony-iron', group: 'Pallasite', says: 'Pallasite, with its groups PMG, PES and ungrouped' },
  {
    pattern: /^Mesosiderite(?:-.*|\?)?$/,
    type: 'Stony-iron',
    group: 'Mesosiderite',
    says: 'Mesosiderite, with its subclasses A, B, C and grades',
  },

  // Irons.
  {
    pattern: new RegExp(String.raw`^Iron, (${IRON_GROUPS})(?:[- ].*|\?)?$`),
    type: 'Iron',
    group: (m) => m[1]!,
    says: 'Iron, <group>: the chemical groups IAB (its complex and subgroups sHH, sLL, ... included), IC, IIAB, IIC, IID, IIE, IIF, IIG, IIIAB, IIIE, IIIF, IVA, IVB',
  },
  { pattern: /^Iron, ungrouped$/, type: 'Iron', group: 'Iron, ungrouped', says: 'Iron, ungrouped: an iron of no chemical group' },
  { pattern: /^Iron\??$/, type: 'Iron', group: 'Iron, not grouped', says: 'Iron, Iron?: an iron whose chemical group was not determined' },
];

export const FALLBACK: Classification = { class_type: 'Unclassified', class_group: 'Unknown' };

/** The rule that places `recclass`, or undefined when none does (the caller falls back to Unclassified). */
export function ruleFor(recclass: string): { classification: Classification; rule: string } | undefined {
  const name = recclass.trim();
  for (const rule of rules) {
    const m = rule.pattern.exec(name);
    if (m) {
      const group = typeof rule.group === 'string' ? rule.group : rule.group(m);
      return { classification: { class_type: rule.type, class_group: group }, rule: rule.says };
    }
  }
  return undefined;
}

const cache = new Map<string, Classification>();

/** `class_type` and `class_group` of a class name; unknown names are Unclassified / Unknown. */
export function classify(recclass: string | null): Classification | null {
  if (recclass === null) return null;
  let known = cache.get(recclass);
  if (known === undefined) {
    known = ruleFor(recclass)?.classification ?? FALLBACK;
    cache.set(recclass, known);
  }
  return known;
}

/** The rules in the order they are tried, for the documentation table. */
export const classificationRules: readonly { class_type: ClassType; says: string }[] = rules.map((r) => ({
  class_type: r.type,
  says: r.says,
}));

export interface ClassFilter {
  recclass?: string;
  class_type?: string;
  class_group?: string;
}

/**
 * Per code of a coded recclass column (its `values`), 1 when that class passes the filter, else 0;
 * undefined when the filter sets nothing. A query tests each record with one look-up instead of a
 * classify.
 */
export function classMask(values: readonly (string | null)[], f: ClassFilter): Uint8Array | undefined {
  if (f.recclass === undefined && f.class_type === undefined && f.class_group === undefined) return undefined;
  return Uint8Array.from(values, (v) => {
    const c = classify(v);
    if (v === null || c === null) return 0;
    return Number(
      (f.recclass === undefined || v === f.recclass) &&
        (f.class_type === undefined || c.class_type === f.class_type) &&
        (f.class_group === undefined || c.class_group === f.class_group),
    );
  });
}

import { describe, expect, it } from 'vitest';
import { classify, classMask, ruleFor } from './classification.ts';

describe('classification of recclass names', () => {
  it.each([
    ['H/L3.6', 'Chondrite', 'H/L'],
    ['H(L)3', 'Chondrite', 'H/L'],
    ['L(LL)3.05', 'Chondrite', 'L/LL'],
    ['LL(L)3.1', 'Chondrite', 'L/LL'],
    ['L6-melt breccia', 'Chondrite', 'L'],
    ['H(5?)', 'Chondrite', 'H'],
    ['LL<3.5', 'Chondrite', 'LL'],
    ['L~4-6', 'Chondrite', 'L'],
    ['H-metal', 'Chondrite', 'H'],
    ['CM2', 'Chondrite', 'CM'],
    ['CI1', 'Chondrite', 'CI'],
    ['CBa', 'Chondrite', 'CB'],
    ['C3-ung', 'Chondrite', 'C, ungrouped'],
    ['EH3/4-an', 'Chondrite', 'EH'],
    ['E5-an', 'Chondrite', 'E'],
    ['OC', 'Chondrite', 'OC'],
    ['R3.8-6', 'Chondrite', 'R'],
    ['Iron, IIAB', 'Iron', 'IIAB'],
    ['Iron, IAB-sLL', 'Iron', 'IAB'],
    ['Iron, IAB complex', 'Iron', 'IAB'],
    ['Iron, IIIAB?', 'Iron', 'IIIAB'],
    ['Iron, ungrouped', 'Iron', 'Iron, ungrouped'],
    ['Iron?', 'Iron', 'Iron, not grouped'],
    ['Pallasite, PMG', 'Stony-iron', 'Pallasite'],
    ['Mesosiderite-A3/4', 'Stony-iron', 'Mesosiderite'],
    ['Martian (shergottite)', 'Achondrite', 'Martian'],
    ['Lunar (anorth)', 'Achondrite', 'Lunar'],
    ['Eucrite-pmict', 'Achondrite', 'Eucrite'],
    ['Diogenite-olivine', 'Achondrite', 'Diogenite'],
    ['Ureilite-pmict', 'Primitive achondrite', 'Ureilite'],
    ['Acapulcoite/lodranite', 'Primitive achondrite', 'Acapulcoite/Lodranite'],
    ['Achondrite-prim', 'Primitive achondrite', 'Primitive achondrite, ungrouped'],
    ['Stone-uncl', 'Unclassified', 'Stone'],
    ['Unknown', 'Unclassified', 'Unknown'],
    ['Relict iron', 'Unclassified', 'Relict'],
    ['Relict H', 'Unclassified', 'Relict'],
  ])('%s is %s / %s', (name, type, group) => {
    expect(ruleFor(name)?.classification).toEqual({ class_type: type, class_group: group });
    expect(classify(name)).toEqual({ class_type: type, class_group: group });
  });

  it('reads the name trimmed', () => {
    expect(classify('  L6 ')).toEqual({ class_type: 'Chondrite', class_group: 'L' });
  });

  it('places a name no rule knows as Unclassified / Unknown, and a missing class as null', () => {
    expect(ruleFor('Xenolith-9')).toBeUndefined();
    expect(classify('Xenolith-9')).toEqual({ class_type: 'Unclassified', class_group: 'Unknown' });
    expect(classify(null)).toBeNull();
  });

  it('does not read a group out of a look-alike', () => {
    expect(ruleFor('HL6')).toBeUndefined();
    expect(ruleFor('Iron, IIX')).toBeUndefined();
    expect(ruleFor('CZ3')).toBeUndefined();
  });
});

describe('classMask', () => {
  const values = [null, 'L6', 'Iron, IIIAB', 'Iron, IAB-sLL', 'H5', 'Xenolith-9'];

  it('marks the codes whose class passes every filter set, none for a missing class', () => {
    expect(classMask(values, { class_type: 'Iron' })).toEqual(Uint8Array.from([0, 0, 1, 1, 0, 0]));
    expect(classMask(values, { class_type: 'Iron', class_group: 'IAB' })).toEqual(Uint8Array.from([0, 0, 0, 1, 0, 0]));
    expect(classMask(values, { recclass: 'L6', class_type: 'Chondrite' })).toEqual(Uint8Array.from([0, 1, 0, 0, 0, 0]));
    expect(classMask(values, { recclass: 'L6', class_type: 'Iron' })).toEqual(Uint8Array.from([0, 0, 0, 0, 0, 0]));
    expect(classMask(values, { class_group: 'Unknown' })).toEqual(Uint8Array.from([0, 0, 0, 0, 0, 1]));
  });

  it('is undefined when no class filter is set', () => {
    expect(classMask(values, {})).toBeUndefined();
  });
});

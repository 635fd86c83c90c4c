import type { Issue } from '../../model/index.js';
import { parseDurationHours } from '../units.js';
import { rule, type Rule } from './rule.js';

/** Certificate lifetimes. */
export const PKI_RULES: Rule[] = [
  rule({
    name: 'durations-parse',
    summary: 'CA and certificate lifetimes are durations, and a certificate does not outlive its CA',
    check: ({ site }, report) => {
      const pki = site.spec.pki;
      const ca = parseDurationHours(pki.caValidity);
      const leaf = parseDurationHours(pki.certValidity);
      const out: Issue[] = [];
      if (ca === null || ca < 1) out.push(report('spec.pki.caValidity', `${pki.caValidity} is not a duration of at least 1h`, 'e.g. 87600h (10 years)'));
      if (leaf === null || leaf < 1) out.push(report('spec.pki.certValidity', `${pki.certValidity} is not a duration of at least 1h`, 'e.g. 8760h (1 year)'));
      if (ca !== null && leaf !== null && leaf > ca) out.push(report('spec.pki.certValidity', `certificates (${pki.certValidity}) would outlive their CA (${pki.caValidity})`, 'shorten certValidity or lengthen caValidity'));
      return out;
    },
  }),
];

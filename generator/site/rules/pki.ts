import type { Issue } from '../../model/index.js';
import { parseDurationHours } from '../units.js';
import { rule, type Rule } from './rule.js';

/**
 * The longest lifetime kubeseed issues: a CA made now must end before X.509's last date
 * (9999-12-31); 100 years keeps that true for centuries and stays far from what JavaScript dates hold.
 */
export const MAX_VALIDITY_HOURS = 876_000;

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
      for (const [field, hours, text] of [
        ['caValidity', ca, pki.caValidity],
        ['certValidity', leaf, pki.certValidity],
      ] as const) {
        if (hours !== null && hours > MAX_VALIDITY_HOURS)
          out.push(
            report(
              `spec.pki.${field}`,
              `${text} is longer than ${MAX_VALIDITY_HOURS}h (100 years), the longest lifetime kubeseed issues`,
              'certificate dates end with the year 9999; e.g. 87600h (10 years) for a CA',
            ),
          );
      }
      if (ca !== null && leaf !== null && leaf > ca)
        out.push(
          report(
            'spec.pki.certValidity',
            `certificates (${pki.certValidity}) would outlive their CA (${pki.caValidity})`,
            'shorten certValidity or lengthen caValidity',
          ),
        );
      return out;
    },
  }),
];

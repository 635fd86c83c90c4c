import { InputError } from '../model/index.js';

/**
 * The latest time every archive we write can record. ISO 9660 directory records (and Rock Ridge's
 * TF entries) hold the year as one byte counted from 1900, so 2155-12-31 23:59:59 UTC is their
 * last second (ECMA-119 §9.1.5); ustar's 11 octal digits reach 8^11 − 1 s (year 2242) and the
 * ISO volume descriptors' four-digit year 9999, so the directory records decide.
 */
export const LATEST_ARCHIVE_TIME = Date.UTC(2155, 11, 31, 23, 59, 59) / 1000;

/**
 * SOURCE_DATE_EPOCH as the reproducible-builds specification defines it: a decimal count of
 * seconds since 1970-01-01 UTC. Unset or empty means "not given". Anything else that is not a
 * plain non-negative integer (`1e3`, `-1`, `0x10`, ` 5`) is refused rather than guessed at.
 */
export function parseSourceDateEpoch(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const hint = `a whole number of seconds since 1970-01-01 UTC, at most ${LATEST_ARCHIVE_TIME} (2155-12-31T23:59:59Z, the last second an ISO 9660 directory record holds)`;
  if (!/^\d{1,20}$/.test(raw))
    throw new InputError(`SOURCE_DATE_EPOCH=${JSON.stringify(raw).slice(1, -1).slice(0, 40)} is not a whole number of seconds`, [], hint);
  const n = Number(raw);
  if (n > LATEST_ARCHIVE_TIME) throw new InputError(`SOURCE_DATE_EPOCH=${raw} is later than the archives can record`, [], hint);
  return n;
}

import type { ClockPort } from '../model/index.js';

/** The machine's clock: certificate validity starts now. */
export const realClock: ClockPort = { now: () => new Date() };

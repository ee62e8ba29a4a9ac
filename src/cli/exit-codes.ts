/** tscp's exit statuses (documented in the README and man page). */
export const EXIT_OK = 0;
/** The copy failed. */
export const EXIT_FAILED = 1;
/** Bad option, value or operand count: nothing was touched. */
export const EXIT_USAGE = 2;
/** --dedupe found the contents differ (the original design's EILSEQ). */
export const EXIT_DIFFERS = 3;
/** Killed by a signal: 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP). */
export const EXIT_SIGNAL_BASE = 128;

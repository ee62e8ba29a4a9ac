/** Set (to true) by the bundler for the CommonJS files in dist/bin/; undefined in the ES modules. */
declare const TSCP_COMMONJS_BUNDLE: boolean | undefined;

/** Whether this code runs from the CommonJS bundle (dist/bin/), where there is no import.meta. */
export const IN_BUNDLE = typeof TSCP_COMMONJS_BUNDLE !== 'undefined';

import Handlebars from 'handlebars';

/**
 * Text formats: Handlebars templates and the quoting helpers they use. Shared by the render stage
 * (node files) and the pack stage (install.sh, kickstart, VM scripts), so neither imports the other.
 */

/** Template sources by name (path below blueprints/templates without `.hbs`); `partials/<name>` are partials. */
export type TemplateSources = Record<string, string>;

/** Quotes a value for the shell: always single quotes, inner quotes closed and escaped. */
export function shq(value: unknown): string {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/** A TOML basic string. */
export function tomlString(value: unknown): string {
  return JSON.stringify(String(value));
}

const PARTIALS = 'partials/';

export interface Engine {
  render(name: string, context: object): string;
}

/**
 * Handlebars for text formats only: no HTML escaping, and `strict`, so a missing value is an
 * error instead of an empty string in a unit file.
 */
export function createEngine(sources: TemplateSources): Engine {
  const hb = Handlebars.create();
  hb.registerHelper('shq', (v: unknown) => shq(v));
  hb.registerHelper('toml', (v: unknown) => tomlString(v));
  hb.registerHelper('join', (xs: unknown[], sep: unknown) => xs.join(typeof sep === 'string' ? sep : ' '));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  for (const [name, src] of Object.entries(sources)) {
    // `partials/install-node-files.sh` is `{{> install-node-files}}`.
    if (name.startsWith(PARTIALS)) hb.registerPartial(name.slice(PARTIALS.length).replace(/\..*$/, ''), src);
  }
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  return {
    render(name, context) {
      let t = compiled.get(name);
      if (!t) {
        const src = sources[name];
        if (src === undefined) throw new Error(`internal: no template ${name}`);
        t = hb.compile(src, { noEscape: true, strict: true });
        compiled.set(name, t);
      }
      return t(context);
    },
  };
}

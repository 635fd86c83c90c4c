import Handlebars from 'handlebars';

/** Template sources by name (path below blueprints/templates without `.hbs`). */
export type TemplateSources = Record<string, string>;

/** Quotes a value for the shell: always single quotes, inner quotes closed and escaped. */
export function shq(value: unknown): string {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/** A TOML basic string. */
export function tomlString(value: unknown): string {
  return JSON.stringify(String(value));
}

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

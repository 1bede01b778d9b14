// What every command file exports (the options every command accepts are in args.ts).
import type { OptionSpec, ParsedArgs } from './args.ts';
import type { Context } from './context.ts';

export { flag, listOption, stringOption, GLOBAL_OPTIONS, type OptionSpec, type ParsedArgs } from './args.ts';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Examples shown by `lifeboat help COMMAND`. */
  examples: string[];
  options: Record<string, OptionSpec>;
  run(ctx: Context, args: ParsedArgs): Promise<number>;
}

/**
 * The README's TypeScript samples, for the test that compiles them (test/docs/readme-samples.test.ts). A sample may
 * need declarations it does not show (say, the remote an app already has): an HTML comment right above its fence,
 * `<!-- sample-preamble` … `-->`, holds them, so they stay in the README, visible to whoever edits the sample.
 */

export interface ReadmeSample {
  /** The README line of the sample's first code line (1-based). */
  readonly line: number;
  /** Hidden declarations compiled ahead of the sample; empty for most. */
  readonly preamble: string;
  readonly code: string;
}

const SAMPLE = /(?:<!-- sample-preamble\n([\s\S]*?)\n-->\n)?```(?:ts|typescript)\n([\s\S]*?)^```[ \t]*$/gm;

/** Every ```ts (or ```typescript) block of a Markdown text, with its preamble. */
export function extractTypeScriptSamples(markdown: string): ReadmeSample[] {
  const text = markdown.replace(/\r\n/g, '\n');
  const samples: ReadmeSample[] = [];
  let searchedTo = 0;
  for (const match of text.matchAll(SAMPLE)) {
    const [whole, preamble = '', code = ''] = match;
    const fence = whole.search(/^```/m);
    const codeStart = match.index + whole.indexOf('\n', fence) + 1;
    samples.push({ line: lineAt(text, codeStart), preamble, code });
    searchedTo = match.index + whole.length;
  }
  // An opening fence with no closing one would otherwise drop the rest of the README from the check.
  if (/^```(?:ts|typescript)[ \t]*$/m.test(text.slice(searchedTo))) {
    throw new Error(`README has an unterminated TypeScript block after line ${lineAt(text, searchedTo)}`);
  }
  return samples;
}

const lineAt = (text: string, offset: number): number => text.slice(0, offset).split('\n').length;

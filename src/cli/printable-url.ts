/**
 * A URL fit to print: the userinfo (`user:secret@`) is removed and nothing else changes. A value that does not
 * parse as a URL loses anything between `//` and its last `@` all the same, so a mistyped URL cannot leak a
 * password either.
 */
export function printableUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\/\/\S*@/, '//');
  }
  if (parsed.username === '' && parsed.password === '') return url;
  // The authority ends at the first '/', '?' or '#'; its userinfo at the last '@' before that.
  return url.replace(/^(\s*[^:/?#]+:\/\/)[^/?#]*@/, '$1');
}

// The table of source files of one compilation. Spans point into it by index;
// lines and columns are computed only when a diagnostic is rendered.

export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

export class Sources {
  private readonly files: SourceFile[] = [];
  private readonly lineStarts = new Map<number, number[]>();

  add(path: string, text: string): number {
    this.files.push({ path, text });
    return this.files.length - 1;
  }

  get(file: number): SourceFile {
    const found = this.files[file];
    if (!found) throw new Error(`no source file #${file}`);
    return found;
  }

  all(): readonly SourceFile[] {
    return this.files;
  }

  /**
   * 1-based line and column of a character offset. Columns count characters
   * (code points), as editors do; a line ends at LF, CRLF or a lone CR.
   */
  position(file: number, offset: number): { line: number; column: number } {
    const starts = this.starts(file);
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    const before = this.get(file).text.slice(starts[low]!, offset);
    return { line: low + 1, column: [...before].length + 1 };
  }

  lineText(file: number, line: number): string {
    const starts = this.starts(file);
    const text = this.get(file).text;
    const begin = starts[line - 1] ?? text.length;
    const end = starts[line] ?? text.length;
    return text.slice(begin, end).replace(/\r?\n$|\r$/, "");
  }

  private starts(file: number): number[] {
    let starts = this.lineStarts.get(file);
    if (!starts) {
      starts = [0];
      const text = this.get(file).text;
      for (let i = 0; i < text.length; i++) {
        if (text[i] === "\n" || (text[i] === "\r" && text[i + 1] !== "\n")) starts.push(i + 1);
      }
      this.lineStarts.set(file, starts);
    }
    return starts;
  }
}

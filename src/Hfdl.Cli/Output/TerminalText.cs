using System.Text;
using Hfdl.Core.Hub;

namespace Hfdl.Cli.Output;

/// <summary>
/// The one place where text reaches the terminal safely. Names, error bodies, refs, lock holders and whatever else came
/// from a server or a file may hold escape sequences, bidirectional overrides or invisible characters; they are made
/// visible (<c>\x1b</c>, <c>\u202E</c>, see <see cref="SafeText.Escape"/>) before they are written:
/// <list type="bullet">
/// <item>every plain write goes through a <see cref="Writer"/> that <see cref="HfdlCommand"/> puts around stdout and
/// stderr, so no line the CLI prints can carry a raw control or format character (line breaks excepted);</item>
/// <item>Spectre consoles (the live display, tables) write their own escape codes, so they get the raw writer
/// (<see cref="Unwrap"/>) and their content is escaped here (<see cref="Markup"/>, <see cref="Text"/>).</item>
/// </list>
/// JSON output needs none of this: its strings are escaped by <see cref="JsonEvents"/>' encoder.
/// </summary>
internal static class TerminalText
{
    /// <summary>Text for a plain line.</summary>
    public static string Escape(string? text) => SafeText.Escape(text);

    /// <summary>Text for Spectre markup: made visible, then its <c>[</c> and <c>]</c> escaped.</summary>
    public static string Markup(string? text) => Spectre.Console.Markup.Escape(SafeText.Escape(text));

    /// <summary>A Spectre <see cref="Spectre.Console.Text"/> cell (not parsed as markup) of <paramref name="text"/>, made visible.</summary>
    public static Spectre.Console.Text Text(string? text) => new(SafeText.Escape(text));

    /// <summary>Wraps <paramref name="inner"/> so that everything written through it is escaped (unless it already is).</summary>
    public static TextWriter Wrap(TextWriter inner) => inner as Writer ?? new Writer(inner);

    /// <summary>The writer under <paramref name="writer"/>, for a Spectre console that writes its own escape codes.</summary>
    public static TextWriter Unwrap(TextWriter writer) => writer is Writer escaping ? escaping.Inner : writer;

    /// <summary>
    /// A writer that escapes every character but the line break (<c>\n</c>) before passing text on, one call for one
    /// call, so lines written from several threads stay whole.
    /// </summary>
    public sealed class Writer(TextWriter inner) : TextWriter
    {
        public TextWriter Inner { get; } = inner;

        public override Encoding Encoding => Inner.Encoding;

        public override IFormatProvider FormatProvider => Inner.FormatProvider;

        [System.Diagnostics.CodeAnalysis.AllowNull]
        public override string NewLine
        {
            get => Inner.NewLine;
            set => Inner.NewLine = value;
        }

        public override void Write(char value) => Write(value.ToString());

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Write(ReadOnlySpan<char> buffer) => Write(new string(buffer));

        // A high surrogate at the end of a write waits for its pair, which a writer that passes text on in chunks (the
        // streamed JSON plan) may send in the next write; alone it would be escaped as a lone one.
        private readonly Lock _gate = new();
        private char? _pendingHigh;

        public override void Write(string? value) => Inner.Write(EscapeKeepingLines(Take(value, atLineEnd: false)));

        public override void WriteLine() => WriteLine("");

        public override void WriteLine(string? value) => Inner.WriteLine(EscapeKeepingLines(Take(value, atLineEnd: true)));

        public override void WriteLine(ReadOnlySpan<char> buffer) => WriteLine(new string(buffer));

        public override void WriteLine(char[] buffer, int index, int count) => WriteLine(new string(buffer, index, count));

        public override Task WriteAsync(string? value) => Inner.WriteAsync(EscapeKeepingLines(Take(value, atLineEnd: false)));

        public override Task WriteLineAsync(string? value) => Inner.WriteLineAsync(EscapeKeepingLines(Take(value, atLineEnd: true)));

        public override void Flush()
        {
            if (_pendingHigh is not null)
            {
                Inner.Write(EscapeKeepingLines(Take("", atLineEnd: true)));
            }
            Inner.Flush();
        }

        public override Task FlushAsync()
        {
            Flush();
            return Task.CompletedTask;
        }

        private string? Take(string? value, bool atLineEnd)
        {
            lock (_gate)
            {
                if (_pendingHigh is { } high)
                {
                    _pendingHigh = null;
                    value = high + value;
                }
                if (!atLineEnd && value is { Length: > 0 } && char.IsHighSurrogate(value[^1]))
                {
                    _pendingHigh = value[^1];
                    value = value[..^1];
                }
                return value;
            }
        }

        /// <summary>Each line escaped on its own; the line breaks themselves stay (a stack trace with HFDL_DEBUG, help).</summary>
        private static string EscapeKeepingLines(string? value)
        {
            if (string.IsNullOrEmpty(value) || !value.Contains('\n'))
            {
                return SafeText.Escape(value);
            }
            // A CR right before a line break is the break itself (Windows); anywhere else it could overwrite the line.
            return string.Join('\n', value.Split('\n').Select(line =>
                line.EndsWith('\r') ? SafeText.Escape(line[..^1]) + "\r" : SafeText.Escape(line)));
        }
    }
}

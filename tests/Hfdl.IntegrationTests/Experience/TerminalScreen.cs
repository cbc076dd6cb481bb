using System.Text;
using Spectre.Console;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>
/// What a terminal of a given width shows for a byte stream, as xterm does it: characters take their cells (two for
/// CJK), a row wraps when it is full (the cursor waits on the last column until the next character), <c>\n</c> is a
/// new line (the tty's onlcr), and the few sequences the live display uses move the cursor (<c>CSI n A</c>) or erase
/// (<c>CSI K</c>, <c>CSI 2K</c>); colours and modes are ignored. The buffer has no height limit: it is the scrollback
/// and the screen together.
/// </summary>
internal sealed class TerminalScreen
{
    private readonly int _width;
    private readonly List<string?[]> _rows = [];
    private int _row;
    private int _column;
    private bool _wrapPending;

    private TerminalScreen(int width) => _width = width;

    /// <summary>The rows the stream leaves, each without its trailing blanks, trailing blank rows dropped.</summary>
    public static List<string> Render(string stream, int width)
    {
        var screen = new TerminalScreen(width);
        screen.Write(stream);
        var rows = screen._rows.Select(cells => string.Concat(cells.Select(c => c ?? "")).TrimEnd()).ToList();
        while (rows.Count > 0 && rows[^1].Length == 0)
        {
            rows.RemoveAt(rows.Count - 1);
        }
        return rows;
    }

    private string?[] Row(int index)
    {
        while (_rows.Count <= index)
        {
            _rows.Add(Enumerable.Repeat<string?>(" ", _width).ToArray());
        }
        return _rows[index];
    }

    private void Write(string stream)
    {
        var i = 0;
        while (i < stream.Length)
        {
            var c = stream[i];
            if (c == '\u001b' && i + 1 < stream.Length && stream[i + 1] == '[')
            {
                var end = i + 2;
                while (end < stream.Length && !(stream[end] >= '@' && stream[end] <= '~'))
                {
                    end++;
                }
                Control(stream[(i + 2)..end], stream[end]);
                i = end + 1;
                continue;
            }
            if (c == '\r')
            {
                _column = 0;
                _wrapPending = false;
            }
            else if (c == '\n')
            {
                _row++;
                _column = 0;
                _wrapPending = false;
            }
            else
            {
                var rune = Rune.GetRuneAt(stream, i);
                Print(rune.ToString());
                i += rune.Utf16SequenceLength;
                continue;
            }
            i++;
        }
    }

    private void Print(string character)
    {
        var cells = Math.Max(0, character.GetCellWidth());
        if (cells == 0)
        {
            return;
        }
        if (_wrapPending || _column + cells > _width)
        {
            _row++;
            _column = 0;
            _wrapPending = false;
        }
        var row = Row(_row);
        row[_column] = character;
        if (cells == 2)
        {
            row[_column + 1] = null;
        }
        _column += cells;
        if (_column >= _width)
        {
            _column = _width - 1;
            _wrapPending = true;
        }
    }

    private void Control(string parameters, char command)
    {
        var n = int.TryParse(parameters, out var value) ? value : 0;
        switch (command)
        {
            case 'A':
                _row = Math.Max(0, _row - Math.Max(1, n));
                _wrapPending = false;
                break;
            case 'K':
                var row = Row(_row);
                var (from, to) = n switch { 1 => (0, _column + 1), 2 => (0, _width), _ => (_column, _width) };
                for (var c = from; c < to; c++)
                {
                    row[c] = " ";
                }
                break;
            default:
                // Colours (m), cursor visibility (?25h/l) and other modes change nothing on the screen.
                break;
        }
    }
}

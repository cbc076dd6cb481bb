using Hfdl.Core.Hub;

namespace Hfdl.Core.Planning;

/// <summary>
/// <c>--include</c> / <c>--exclude</c> exactly as huggingface_hub's <c>filter_repo_objects</c> applies
/// <c>allow_patterns</c> / <c>ignore_patterns</c>: Python's <c>fnmatch</c> on the repo path (case-sensitive, as on
/// POSIX), where <c>*</c> also matches <c>/</c>, <c>?</c> any one character, <c>[seq]</c> and <c>[!seq]</c> a set;
/// a pattern ending with <c>/</c> gets a <c>*</c> appended (a folder and everything under it). A file is kept when
/// it matches any include pattern (or there is none) and no exclude pattern.
/// </summary>
internal sealed class PathFilter
{
    /// <summary>What an <see cref="InvalidOptionException"/> names for an empty include pattern (the CLI says which option).</summary>
    internal const string IncludeOption = "An include pattern";

    /// <summary>What an <see cref="InvalidOptionException"/> names for an empty exclude pattern.</summary>
    internal const string ExcludeOption = "An exclude pattern";

    private readonly FnMatch[] _include;
    private readonly FnMatch[] _exclude;

    public PathFilter(IReadOnlyList<string> include, IReadOnlyList<string> exclude)
    {
        Include = include;
        Exclude = exclude;
        _include = [.. include.Select(p => Compile(p, IncludeOption))];
        _exclude = [.. exclude.Select(p => Compile(p, ExcludeOption))];
    }

    public IReadOnlyList<string> Include { get; }

    public IReadOnlyList<string> Exclude { get; }

    /// <summary>True when there is no pattern at all (every file is kept).</summary>
    public bool IsEmpty => _include.Length == 0 && _exclude.Length == 0;

    public bool Matches(string path) =>
        (_include.Length == 0 || _include.Any(p => p.IsMatch(path))) && !_exclude.Any(p => p.IsMatch(path));

    public List<RemoteFile> Apply(IEnumerable<RemoteFile> files) => [.. files.Where(f => Matches(f.Path))];

    /// <summary>
    /// Filters a selection with <c>--include</c>/<c>--exclude</c>. Patterns that leave nothing of a non-empty
    /// selection are an error rather than a silent empty download.
    /// </summary>
    public static List<RemoteFile> Apply(List<RemoteFile> files, IReadOnlyList<string> include, IReadOnlyList<string> exclude, RepoType type, RepoId id, string revision)
    {
        var filter = new PathFilter(include, exclude);
        if (filter.IsEmpty)
        {
            return files;
        }
        var kept = filter.Apply(files);
        if (kept.Count == 0 && files.Count > 0)
        {
            var patterns = DescribePatterns(include, exclude);
            throw new EntryNotFoundException(
                $"No file of {type.Name()} '{id}' at revision '{revision}' is left after {patterns} ({files.Count} files before). Patterns match whole paths, and * also matches /: use '*.json' for JSON files in every folder, or 'onnx/' for a folder. Check the names in the repo's file list.",
                null, null, null, null)
            {
                IncludePatterns = include,
                ExcludePatterns = exclude,
            };
        }
        return kept;
    }

    /// <summary>How a message names a set of patterns ("the include pattern '*.json' and the exclude pattern ...").</summary>
    internal static string DescribePatterns(IReadOnlyList<string> include, IReadOnlyList<string> exclude) =>
        string.Join(" and ", new[] { Describe("include", include), Describe("exclude", exclude) }.Where(d => d.Length > 0));

    private static string Describe(string kind, IReadOnlyList<string> patterns) =>
        patterns.Count == 0 ? "" : $"the {kind} pattern{(patterns.Count > 1 ? "s" : "")} {string.Join(", ", patterns.Select(p => $"'{p}'"))}";

    private static FnMatch Compile(string pattern, string option)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            throw new InvalidOptionException(option, "is empty; give a pattern such as '*.json' or 'onnx/'.");
        }
        return FnMatch.Compile(pattern.EndsWith('/') ? pattern + "*" : pattern);
    }
}

/// <summary>
/// One pattern of Python's <c>fnmatch.fnmatchcase</c>, parsed the way CPython's <c>fnmatch.translate</c> does
/// (including its handling of unclosed <c>[</c>, <c>[]...]</c>, <c>[!]...]</c>, literal <c>-</c> at the edges of a set
/// and empty ranges such as <c>[z-a]</c>), and matched without regular expressions.
/// </summary>
internal sealed class FnMatch
{
    private readonly Token[] _tokens;

    private FnMatch(string pattern, Token[] tokens)
    {
        Pattern = pattern;
        _tokens = tokens;
    }

    public string Pattern { get; }

    public override string ToString() => Pattern;

    private enum Kind
    {
        Literal,
        AnyChar,
        Star,
        Set,
    }

    private readonly record struct Token(Kind Kind, char Char = '\0', CharSet? Set = null);

    public static FnMatch Compile(string pattern)
    {
        var tokens = new List<Token>();
        var i = 0;
        var n = pattern.Length;
        while (i < n)
        {
            var c = pattern[i++];
            switch (c)
            {
                case '*':
                    if (tokens.Count == 0 || tokens[^1].Kind != Kind.Star)
                    {
                        tokens.Add(new Token(Kind.Star));
                    }
                    break;
                case '?':
                    tokens.Add(new Token(Kind.AnyChar));
                    break;
                case '[':
                    var j = i;
                    if (j < n && pattern[j] == '!')
                    {
                        j++;
                    }
                    if (j < n && pattern[j] == ']')
                    {
                        j++;
                    }
                    while (j < n && pattern[j] != ']')
                    {
                        j++;
                    }
                    if (j >= n)
                    {
                        tokens.Add(new Token(Kind.Literal, '['));
                    }
                    else
                    {
                        tokens.Add(new Token(Kind.Set, Set: CharSet.Parse(pattern, i, j)));
                        i = j + 1;
                    }
                    break;
                default:
                    tokens.Add(new Token(Kind.Literal, c));
                    break;
            }
        }
        return new FnMatch(pattern, [.. tokens]);
    }

    /// <summary>Whole-string match; <c>*</c> matches any run of characters, <c>/</c> included.</summary>
    public bool IsMatch(string text)
    {
        // Classic glob matching with one backtrack point: correct because every token but * matches one character.
        int t = 0, p = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < _tokens.Length && _tokens[p].Kind != Kind.Star && Single(_tokens[p], text[t]))
            {
                t++;
                p++;
            }
            else if (p < _tokens.Length && _tokens[p].Kind == Kind.Star)
            {
                starP = p++;
                starT = t;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }
        while (p < _tokens.Length && _tokens[p].Kind == Kind.Star)
        {
            p++;
        }
        return p == _tokens.Length;
    }

    private static bool Single(Token token, char c) => token.Kind switch
    {
        Kind.Literal => token.Char == c,
        Kind.AnyChar => true,
        Kind.Set => token.Set!.Contains(c),
        _ => false,
    };

    /// <summary>A bracket expression, built like CPython builds the regex class from <c>pattern[start:end]</c>.</summary>
    private sealed class CharSet
    {
        private readonly List<(char Low, char High)> _ranges = [];
        private bool _negated;
        private bool _never;
        private bool _any;

        public bool Contains(char c)
        {
            if (_never)
            {
                return false;
            }
            if (_any)
            {
                return true;
            }
            var inside = _ranges.Any(r => c >= r.Low && c <= r.High);
            return inside != _negated;
        }

        public static CharSet Parse(string pattern, int start, int end)
        {
            // CPython splits the set at the hyphens that form ranges (a hyphen right after '[' or '[!' or right
            // after a range is literal), drops ranges whose ends are reversed, and leaves every other character
            // literal. Here the chunks become (char, isRangeHyphen) items instead of a regex.
            var chunks = new List<string>();
            var stuff = pattern[start..end];
            if (!stuff.Contains('-'))
            {
                chunks.Add(stuff);
            }
            else
            {
                var i = start;
                var k = pattern[i] == '!' ? i + 2 : i + 1;
                while (true)
                {
                    k = k < end ? pattern.IndexOf('-', k, end - k) : -1;
                    if (k < 0)
                    {
                        break;
                    }
                    chunks.Add(pattern[i..k]);
                    i = k + 1;
                    k += 3;
                }
                var chunk = pattern[i..end];
                if (chunk.Length > 0)
                {
                    chunks.Add(chunk);
                }
                else
                {
                    chunks[^1] += "-";
                }
                for (var m = chunks.Count - 1; m > 0; m--)
                {
                    if (chunks[m - 1].Length > 0 && chunks[m].Length > 0 && chunks[m - 1][^1] > chunks[m][0])
                    {
                        chunks[m - 1] = chunks[m - 1][..^1] + chunks[m][1..];
                        chunks.RemoveAt(m);
                    }
                }
            }

            // The regex class body: chunk characters are literal; the joins between chunks are range hyphens.
            var items = new List<(char C, bool RangeHyphen)>();
            for (var m = 0; m < chunks.Count; m++)
            {
                if (m > 0)
                {
                    items.Add(('-', true));
                }
                items.AddRange(chunks[m].Select(ch => (ch, false)));
            }
            var set = new CharSet();
            if (items.Count == 0)
            {
                set._never = true;
                return set;
            }
            if (items.Count == 1 && items[0] == ('!', false))
            {
                set._any = true;
                return set;
            }
            var index = 0;
            if (items[0] == ('!', false))
            {
                set._negated = true;
                index = 1;
            }
            // Read the class as the regex engine does: a character, a join hyphen and a character form a range; a
            // chunk's own hyphens are escaped in CPython's class, so they are literal like every other character.
            while (index < items.Count)
            {
                var low = items[index].C;
                if (index + 2 < items.Count && items[index + 1].RangeHyphen)
                {
                    var high = items[index + 2].C;
                    if (low <= high)
                    {
                        set._ranges.Add((low, high));
                    }
                    index += 3;
                }
                else
                {
                    set._ranges.Add((low, low));
                    index++;
                }
            }
            return set;
        }
    }
}

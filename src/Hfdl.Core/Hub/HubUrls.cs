namespace Hfdl.Core.Hub;

/// <summary>Builds Hub URLs with the encoding rules of hub-api.md §1.</summary>
internal static partial class HubUrls
{
    /// <summary>A revision is always one path segment with every reserved character escaped (<c>refs%2Fpr%2F1</c>).</summary>
    /// <summary>
    /// A revision as one path segment. "." and ".." are refused: escaping leaves them as they are, and the URL would
    /// then drop or climb a segment (".." asked for the default branch's info, and downloaded it, as if it were asked).
    /// </summary>
    public static string EncodeRevision(string revision) => revision is "." or ".."
        ? throw new InvalidOptionException("The revision", $"'{revision}' names no branch, tag or commit (a git ref cannot be '.' or '..'). Give a branch, a tag or a commit id.")
        : Uri.EscapeDataString(revision);

    /// <summary>A file path keeps its <c>/</c>; every other reserved or non-ASCII character is escaped per segment.</summary>
    public static string EncodePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    public static Uri RepoInfo(Uri endpoint, RepoType type, RepoId id, string? revision, string? query = null)
    {
        var url = $"{Base(endpoint)}/api/{type.ApiSegment()}/{id}";
        if (revision is not null)
        {
            url += $"/revision/{EncodeRevision(revision)}";
        }
        return new Uri(query is null ? url : $"{url}?{query}");
    }

    public static Uri Tree(Uri endpoint, RepoType type, RepoId id, string revision, string? path, bool recursive, bool expand)
    {
        var url = $"{Base(endpoint)}/api/{type.ApiSegment()}/{id}/tree/{EncodeRevision(revision)}";
        if (!string.IsNullOrEmpty(path))
        {
            url += "/" + EncodePath(path.Trim('/'));
        }
        return new Uri($"{url}?recursive={(recursive ? "true" : "false")}&expand={(expand ? "true" : "false")}");
    }

    public static Uri PathsInfo(Uri endpoint, RepoType type, RepoId id, string revision) =>
        new($"{Base(endpoint)}/api/{type.ApiSegment()}/{id}/paths-info/{EncodeRevision(revision)}");

    public static Uri Refs(Uri endpoint, RepoType type, RepoId id) =>
        new($"{Base(endpoint)}/api/{type.ApiSegment()}/{id}/refs");

    public static Uri Resolve(Uri endpoint, RepoType type, RepoId id, string revision, string path) =>
        new($"{Base(endpoint)}/{type.FilePrefix()}{id}/resolve/{EncodeRevision(revision)}/{EncodePath(path)}");

    public static Uri WhoAmI(Uri endpoint) => new($"{Base(endpoint)}/api/whoami-v2");

    /// <summary>The page a user opens to see a repo (and to request access to a gated one).</summary>
    public static string RepoPage(Uri endpoint, RepoType type, RepoId id) => $"{Base(endpoint)}/{type.FilePrefix()}{id}";

    public static string Base(Uri endpoint) => endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');

    /// <summary><see cref="Base"/> as messages show it: without the user name and password (see <see cref="Display"/>).</summary>
    public static string DisplayBase(Uri endpoint) => Display(endpoint).TrimEnd('/');

    /// <summary>
    /// <paramref name="part"/> of <paramref name="url"/> as messages, logs and answers to clients show it: without the
    /// user name and password an endpoint may carry (<c>http://user:pass@host</c>). They are secrets, and hfdl does not
    /// even send them (.NET's HttpClient ignores them).
    /// </summary>
    public static string Display(Uri url, UriPartial part = UriPartial.Path) =>
        (url.UserInfo.Length == 0 ? url : new UriBuilder(url) { UserName = "", Password = "" }.Uri).GetLeftPart(part);

    /// <summary>Text that may hold a URL that did not parse (an endpoint as typed), with any <c>user:pass@</c> after a scheme removed.</summary>
    public static string DisplayText(string text) => UserInfo().Replace(text, "://");

    [System.Text.RegularExpressions.GeneratedRegex(@"://[^/?#@\s]*@")]
    private static partial System.Text.RegularExpressions.Regex UserInfo();

    /// <summary>Same scheme, host and port: the only targets that may receive the token.</summary>
    public static bool IsSameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    /// <summary>The longest <c>Link</c> header read; the Hub's are a few hundred characters.</summary>
    public const int MaxLinkHeaderLength = 16_384;

    /// <summary>
    /// Parses an RFC 8288 <c>Link</c> header and returns the target of <c>rel="next"</c>, if it is an absolute http(s) URL.
    /// </summary>
    public static Uri? ParseNextLink(string? header)
    {
        if (string.IsNullOrEmpty(header) || header.Length > MaxLinkHeaderLength)
        {
            return null;
        }
        foreach (var part in SplitLinks(header))
        {
            var open = part.IndexOf('<');
            var close = part.IndexOf('>', open + 1);
            if (open < 0 || close < 0)
            {
                continue;
            }
            var target = part[(open + 1)..close].Trim();
            var parameters = part[(close + 1)..];
            var isNext = parameters.Split(';').Select(p => p.Trim()).Any(p =>
                p.StartsWith("rel=", StringComparison.OrdinalIgnoreCase)
                && p[4..].Trim('"').Split(' ').Contains("next", StringComparer.OrdinalIgnoreCase));
            if (isNext && Uri.TryCreate(target, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                return uri;
            }
        }
        return null;
    }

    // Links are separated by commas, but a URL may itself contain commas: split only on commas outside <...>.
    private static IEnumerable<string> SplitLinks(string header)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < header.Length; i++)
        {
            switch (header[i])
            {
                case '<':
                    depth++;
                    break;
                case '>':
                    depth = Math.Max(0, depth - 1);
                    break;
                case ',' when depth == 0:
                    yield return header[start..i];
                    start = i + 1;
                    break;
            }
        }
        yield return header[start..];
    }
}

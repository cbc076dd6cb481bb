using System.Diagnostics.CodeAnalysis;

namespace Hfdl.Core.Hub;

/// <summary>
/// What a user typed to name a repository: a plain id (<c>org/name</c>, <c>gpt2</c>), a Hub URL
/// (<c>https://huggingface.co/datasets/org/name/tree/v1</c>) or an <c>hf://</c> URI (<c>hf://datasets/org/name@v1</c>).
/// URLs and URIs can carry the repo type and a revision; a plain id carries neither.
/// </summary>
public sealed record RepoReference(RepoId Id, RepoType? Type, string? Revision)
{
    /// <summary>
    /// The file or folder a Hub URL or an <c>hf://</c> URI points into, as a selection of the repo: <c>/blob/</c>,
    /// <c>/resolve/</c> or <c>/raw/</c> name a file (<c>sub/file.txt</c>), <c>/tree/</c> a folder (<c>sub/</c>, trailing
    /// slash); an <c>hf://</c> path may be either (<c>sub</c>: the file of that name, else the folder); null for the repo itself.
    /// </summary>
    public string? PathInRepo { get; init; }

    /// <summary>Reads an id, a Hub URL or an <c>hf://</c> URI, or throws <see cref="InvalidRepoIdException"/>.</summary>
    /// <param name="text">What the user typed.</param>
    /// <param name="endpoint">The Hub endpoint in use, when known: a URL below its path (a mirror at <c>https://host/hf</c>) is read from there.</param>
    public static RepoReference Parse(string text, Uri? endpoint = null) =>
        TryParse(text, endpoint, out var reference, out var problem)
            ? reference
            : throw new InvalidRepoIdException(text, problem);

    /// <summary>Reads an id, a Hub URL or an <c>hf://</c> URI; false, with what is wrong, when it is none of them.</summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out RepoReference? reference,
        [NotNullWhen(false)] out string? problem) =>
        TryParse(text, endpoint: null, out reference, out problem);

    /// <summary>
    /// Reads an id, a Hub URL or an <c>hf://</c> URI; false, with what is wrong, when it is none of them. A URL of
    /// <paramref name="endpoint"/>'s host that lies below the endpoint's own path (an endpoint such as
    /// <c>https://host/hf</c>) is read after that path.
    /// </summary>
    public static bool TryParse(
        string? text,
        Uri? endpoint,
        [NotNullWhen(true)] out RepoReference? reference,
        [NotNullWhen(false)] out string? problem)
    {
        reference = null;
        problem = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            problem = "it is empty";
            return false;
        }

        if (text.StartsWith("hf://", StringComparison.OrdinalIgnoreCase))
        {
            return TryParsePath(text["hf://".Length..], fromUrl: false, out reference, out problem);
        }
        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
            {
                problem = "it looks like a URL but is not a valid one";
                return false;
            }
            // Unescaped per segment (in TryParsePath), so a revision written as refs%2Fpr%2F1 stays one segment.
            return TryParsePath(PathBelow(uri, endpoint).Trim('/'), fromUrl: true, out reference, out problem);
        }

        // hf download's prefixed form (hf rewrites datasets/org/name to org/name --type dataset).
        if (!text.Contains('@') && text.Split('/') is [("datasets" or "spaces" or "models"), _, _])
        {
            return TryParsePath(text, fromUrl: false, out reference, out problem);
        }
        if (!RepoId.TryParse(text, out var id, out problem))
        {
            return false;
        }
        reference = new RepoReference(id, null, null);
        return true;
    }

    private static bool TryParsePath(string path, bool fromUrl, out RepoReference? reference, out string? problem)
    {
        reference = null;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(s => fromUrl ? Uri.UnescapeDataString(s) : s).ToList();
        RepoType? type = RepoType.Model;
        if (segments.Count > 0 && segments[0] is "datasets" or "spaces" or "models")
        {
            RepoTypes.TryParse(segments[0], out var parsed);
            type = parsed;
            segments.RemoveAt(0);
        }
        if (segments.Count == 0)
        {
            problem = "it names no repository";
            return false;
        }

        string? revision = null;
        string? pathInRepo = null;
        string idText;
        if (fromUrl)
        {
            // https://host/org/name[/tree|blob|resolve/<rev>/...]; a legacy id has a single segment.
            var markerIndex = segments.FindIndex(s => s is "tree" or "blob" or "resolve" or "raw");
            var idSegments = markerIndex >= 0 ? segments.Take(markerIndex).ToList() : segments;
            if (markerIndex >= 0 && markerIndex + 1 < segments.Count)
            {
                // A PR or convert ref spans segments when not encoded (/tree/refs/pr/1), as the Hub's own links write it.
                var rest = string.Join('/', segments.Skip(markerIndex + 1));
                revision = SpecialRef(rest) ?? segments[markerIndex + 1];
                var inRepo = rest.Length > revision.Length ? rest[(revision.Length + 1)..] : "";
                if (inRepo.Length > 0)
                {
                    pathInRepo = segments[markerIndex] == "tree" ? inRepo + "/" : inRepo;
                }
            }
            if (idSegments.Count is < 1 or > 2)
            {
                problem = "its path does not have the form /[datasets/|spaces/]namespace/name";
                return false;
            }
            idText = string.Join('/', idSegments);
        }
        else
        {
            // hf://[datasets/|spaces/]org/name[@revision][/path], read as huggingface_hub's HfFileSystem reads it: the
            // revision ends at the first '/', except refs/pr/N and refs/convert/X, and may be percent-encoded.
            var rest = string.Join('/', segments);
            var at = rest.IndexOf('@');
            if (at >= 0)
            {
                idText = rest[..at];
                var afterAt = rest[(at + 1)..];
                var revisionText = SpecialRef(afterAt) ?? (afterAt.Contains('/') ? afterAt[..afterAt.IndexOf('/')] : afterAt);
                revision = Uri.UnescapeDataString(revisionText);
                pathInRepo = afterAt.Length > revisionText.Length + 1 ? afterAt[(revisionText.Length + 1)..] : null;
            }
            else
            {
                idText = segments.Count == 1 ? segments[0] : string.Join('/', segments.Take(2));
                pathInRepo = segments.Count > 2 ? string.Join('/', segments.Skip(2)) : null;
            }
            if (pathInRepo is not null && path.EndsWith('/'))
            {
                pathInRepo += "/";
            }
        }

        if (!RepoId.TryParse(idText, out var id, out problem))
        {
            return false;
        }
        reference = new RepoReference(id, type, string.IsNullOrEmpty(revision) ? null : revision) { PathInRepo = pathInRepo };
        return true;
    }

    /// <summary>The URL's path, less the endpoint's path when the URL is on the endpoint's host and below it.</summary>
    private static string PathBelow(Uri uri, Uri? endpoint)
    {
        var prefix = endpoint?.AbsolutePath.TrimEnd('/') ?? "";
        if (prefix.Length == 0
            || Uri.Compare(uri, endpoint, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0
            || !uri.AbsolutePath.StartsWith(prefix + "/", StringComparison.Ordinal))
        {
            return uri.AbsolutePath;
        }
        return uri.AbsolutePath[prefix.Length..];
    }

    /// <summary><c>refs/pr/N</c> or <c>refs/convert/X</c> at the start of <paramref name="text"/> (huggingface_hub's SPECIAL_REFS_REVISION_REGEX), else null.</summary>
    private static string? SpecialRef(string text) =>
        System.Text.RegularExpressions.Regex.Match(text, @"^refs/(?:convert/\w+|pr/\d+)(?=/|$)") is { Success: true } match ? match.Value : null;
}

using System.Net;

namespace Hfdl.Core.Hub;

/// <summary>The Hub answered with an error. Carries what the Hub said and its request id, for bug reports.</summary>
public class HubException : HfdlException
{
    /// <summary>An error answer of the Hub, with what it said and its request id (appended to the message).</summary>
    public HubException(string message, HttpStatusCode? statusCode, string? serverMessage, string? requestId, Exception? inner = null)
        : base(WithRequestId(message, requestId), inner)
    {
        StatusCode = statusCode;
        ServerMessage = serverMessage;
        RequestId = requestId;
    }

    /// <summary>The HTTP status of the answer, when there was one.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>What the Hub said, from <c>X-Error-Message</c> or the body.</summary>
    public string? ServerMessage { get; }

    /// <summary>The Hub's <c>X-Request-Id</c>, to quote when reporting a problem to the Hub.</summary>
    public string? RequestId { get; }

    /// <summary>How long the server asked to wait before trying again (<c>RateLimit</c> or <c>Retry-After</c>), capped.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>
    /// The refused request carried a token: for a gated or private repo, logging in is then not what to do next (the
    /// message says which account, and what that account lacks).
    /// </summary>
    public bool TokenSent { get; init; }

    private static string WithRequestId(string message, string? requestId) =>
        requestId is null ? message : $"{message} (Request ID: {requestId})";
}

/// <summary>The repo does not exist, or is private and the token (if any) has no access.</summary>
public sealed class RepositoryNotFoundException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

/// <summary>The repo is gated and the caller is not (yet) approved.</summary>
public sealed class GatedRepoException(string message, HttpStatusCode? status, string? serverMessage, string? requestId, bool pending)
    : HubException(message, status, serverMessage, requestId)
{
    /// <summary>True when the Hub says an access request is awaiting review.</summary>
    public bool Pending { get; } = pending;
}

/// <summary>The repo was disabled by the Hub (403 <c>X-Error-Code: RepoDisabled</c>): nobody can download it.</summary>
public sealed class DisabledRepoException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

/// <summary>The branch, tag or commit does not exist in the repo (<c>X-Error-Code: RevisionNotFound</c>).</summary>
public sealed class RevisionNotFoundException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

/// <summary>The file does not exist at the commit (<c>X-Error-Code: EntryNotFound</c>).</summary>
public sealed class EntryNotFoundException(string message, HttpStatusCode? status, string? serverMessage, string? requestId, string? commit)
    : HubException(message, status, serverMessage, requestId)
{
    /// <summary>The commit that lacks the file, when known.</summary>
    public string? Commit { get; } = commit;

    /// <summary>Files (not folders) the request named that the commit does not have, for the HF cache's <c>.no_exist/</c> markers.</summary>
    internal IReadOnlyList<string> MissingFiles { get; init; } = [];

    /// <summary>When include/exclude patterns left nothing: the include patterns that were applied.</summary>
    public IReadOnlyList<string> IncludePatterns { get; init; } = [];

    /// <summary>When include/exclude patterns left nothing: the exclude patterns that were applied.</summary>
    public IReadOnlyList<string> ExcludePatterns { get; init; } = [];
}

/// <summary>The Hub rejected the token itself (invalid, expired or revoked).</summary>
public sealed class InvalidTokenException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId)
{
    /// <summary>Where the rejected token came from (null: unknown), so a front end's advice fits it.</summary>
    internal TokenOrigin? RejectedTokenOrigin { get; init; }
}

/// <summary>Rate limited (429) after all retries.</summary>
public sealed class RateLimitedException : HubException
{
    /// <summary>A 429, with how long the Hub asked to wait.</summary>
    public RateLimitedException(string message, HttpStatusCode? status, string? serverMessage, string? requestId, TimeSpan? retryAfter)
        : base(message, status, serverMessage, requestId)
    {
        RetryAfter = retryAfter;
    }
}

/// <summary>The endpoint could not be reached at all (DNS, refused, timeout, TLS).</summary>
public sealed class HubUnreachableException(string message, Exception? inner) : HfdlException(message, inner)
{
    /// <summary>
    /// False when trying again cannot help soon: the host name does not resolve, nothing listens on the port, or the
    /// certificate is not valid. Timeouts and connections cut part-way are worth another attempt.
    /// </summary>
    public bool IsTransient { get; init; } = true;
}

/// <summary>The server broke the protocol: a missing header, malformed JSON, a redirect loop, lying sizes.</summary>
public sealed class HubProtocolException(string message, Exception? inner = null) : HfdlException(message, inner);

/// <summary>A downloaded file does not match its expected size or hash. Nothing was put under the final name.</summary>
public sealed class IntegrityException(string path, string message) : HfdlException(message)
{
    /// <summary>The path in the repo of the file that did not verify.</summary>
    public string Path { get; } = path;
}

/// <summary>A file name from the server would write outside the target folder, or cannot exist on this system.</summary>
public sealed class UnsafePathException(string? path, string problem, string? nextStep = null)
    : HfdlException($"The server listed a file named '{SafeText.Printable(path)}', which hfdl refuses to write: {problem}. Nothing was downloaded; {nextStep ?? "if this repo is genuine, report it to its owners"}.")
{
    /// <summary>The name exactly as the server sent it (null when it sent none).</summary>
    public string? RejectedPath { get; } = path;
}

/// <summary>
/// A revision (a branch or tag name as asked for) that cannot name a ref file of the Hugging Face cache, where
/// <c>refs/&lt;revision&gt;</c> records its commit: it would lead outside the refs folder, or cannot be a file name.
/// </summary>
public sealed class UnsafeRevisionNameException(string revision, string? commit, string problem)
    : HfdlException($"The revision '{SafeText.Printable(revision)}'{(commit is null ? "" : $" (commit {commit})")} cannot be recorded in the Hugging Face cache, where its name becomes a file under the repo's refs folder: {problem}. Nothing was downloaded; ask for {(commit is null ? "its commit id" : $"the commit id {commit}")} instead.")
{
    /// <summary>The revision exactly as it was asked for.</summary>
    public string Revision { get; } = revision;
}

/// <summary>Makes text that came from a server (or a file) safe to print on a terminal.</summary>
internal static class SafeText
{
    private const int MaxShown = 200;

    /// <summary>
    /// The text with every character that could act on a terminal or hide what the text says made visible: C0 and C1
    /// controls and DEL as <c>\xHH</c> (so an escape sequence shows as <c>\x1b[2J</c>), and as <c>\uXXXX</c> (or
    /// <c>\U000XXXXX</c>) the invisible format characters (category Cf: bidirectional overrides and isolates
    /// U+202A-U+202E, U+2066-U+2069, U+061C, zero-width U+200B-U+200F, U+FEFF, tags...), line and paragraph separators,
    /// lone surrogates and the blank Hangul fillers. Everything else, other scripts included, stays as it is, and so
    /// does a backslash: escaping twice changes nothing.
    /// </summary>
    public static string Escape(string? text)
    {
        if (text is null)
        {
            return "";
        }
        var clean = 0;
        while (clean < text.Length && !NeedsEscape(text, clean))
        {
            clean++;
        }
        if (clean == text.Length)
        {
            return text;
        }
        var builder = new System.Text.StringBuilder(text.Length + 16);
        builder.Append(text, 0, clean);
        for (var i = clean; i < text.Length;)
        {
            if (System.Text.Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)text[i]:X4}"); // a lone surrogate
                i++;
                continue;
            }
            if (rune.Value < 0xA0 && IsControl(rune.Value))
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{rune.Value:x2}");
            }
            else if (IsHidden(rune))
            {
                builder.Append(rune.IsBmp
                    ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\\u{rune.Value:X4}")
                    : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\\U{rune.Value:X8}"));
            }
            else
            {
                builder.Append(text, i, consumed);
            }
            i += consumed;
        }
        return builder.ToString();
    }

    /// <summary>
    /// <see cref="Escape"/>, cut after 200 characters (for names quoted inside a message); null shows as <c>(none)</c>.
    /// </summary>
    public static string Printable(string? text)
    {
        if (text is null)
        {
            return "(none)";
        }
        var escaped = Escape(text.Length > MaxShown * 2 ? text[..(MaxShown * 2)] : text);
        return escaped.Length > MaxShown || text.Length > MaxShown * 2 ? escaped[..MaxShown] + "..." : escaped;
    }

    /// <summary>True for a character <see cref="Escape"/> makes visible.</summary>
    public static bool IsHidden(System.Text.Rune rune) =>
        IsControl(rune.Value)
        || System.Text.Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator
            or System.Globalization.UnicodeCategory.Surrogate
        // Blank letters, used to fake spaces or empty names.
        || rune.Value is 0x115F or 0x1160 or 0x3164 or 0xFFA0;

    private static bool IsControl(int value) => value is < 0x20 or (>= 0x7F and < 0xA0);

    private static bool NeedsEscape(string text, int index)
    {
        var c = text[index];
        return c < 0x20 || (c >= 0x7F && (char.IsSurrogate(c) || IsHidden(new System.Text.Rune(c))));
    }
}

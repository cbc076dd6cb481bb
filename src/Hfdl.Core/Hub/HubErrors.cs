using System.Net;

namespace Hfdl.Core.Hub;

/// <summary>The Hub answered with an error. Carries what the Hub said and its request id, for bug reports.</summary>
public class HubException : HfdlException
{
    public HubException(string message, HttpStatusCode? statusCode, string? serverMessage, string? requestId, Exception? inner = null)
        : base(WithRequestId(message, requestId), inner)
    {
        StatusCode = statusCode;
        ServerMessage = serverMessage;
        RequestId = requestId;
    }

    public HttpStatusCode? StatusCode { get; }

    /// <summary>What the Hub said, from <c>X-Error-Message</c> or the body.</summary>
    public string? ServerMessage { get; }

    public string? RequestId { get; }

    /// <summary>How long the server asked to wait before trying again (<c>RateLimit</c> or <c>Retry-After</c>), capped.</summary>
    public TimeSpan? RetryAfter { get; init; }

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

public sealed class DisabledRepoException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

public sealed class RevisionNotFoundException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

/// <summary>The file does not exist at the commit (<c>X-Error-Code: EntryNotFound</c>).</summary>
public sealed class EntryNotFoundException(string message, HttpStatusCode? status, string? serverMessage, string? requestId, string? commit)
    : HubException(message, status, serverMessage, requestId)
{
    public string? Commit { get; } = commit;
}

/// <summary>The Hub rejected the token itself (invalid, expired or revoked).</summary>
public sealed class InvalidTokenException(string message, HttpStatusCode? status, string? serverMessage, string? requestId)
    : HubException(message, status, serverMessage, requestId);

/// <summary>Rate limited (429) after all retries.</summary>
public sealed class RateLimitedException : HubException
{
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
    public string Path { get; } = path;
}

/// <summary>A file name from the server would write outside the target folder, or cannot exist on this system.</summary>
public sealed class UnsafePathException(string? path, string problem)
    : HfdlException($"The server listed a file named '{SafeText.Printable(path)}', which hfdl refuses to write: {problem}. Nothing was downloaded; if this repo is genuine, report it to its owners.")
{
    /// <summary>The name exactly as the server sent it (null when it sent none).</summary>
    public string? RejectedPath { get; } = path;
}

/// <summary>Makes text that came from a server safe to print.</summary>
public static class SafeText
{
    private const int MaxShown = 200;

    /// <summary>
    /// The text as it can be shown safely: control, invisible formatting (bidi overrides) and lone surrogate characters
    /// escaped as <c>\uXXXX</c>, so a hostile name cannot rewrite the terminal line or hide what it is; cut after 200.
    /// </summary>
    public static string Printable(string? text)
    {
        if (text is null)
        {
            return "(none)";
        }
        var builder = new System.Text.StringBuilder();
        for (var i = 0; i < text.Length && builder.Length < MaxShown; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
            }
            else if (char.IsControl(c) || char.IsSurrogate(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
                         or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator)
            {
                builder.Append($"\\u{(int)c:x4}");
            }
            else
            {
                builder.Append(c);
            }
        }
        return builder.Length >= MaxShown ? builder.ToString(0, MaxShown) + "..." : builder.ToString();
    }
}

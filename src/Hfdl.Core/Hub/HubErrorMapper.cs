using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Hfdl.Core.Hub;

/// <summary>What a request was about, so an error message can name it.</summary>
/// <param name="Request">What was asked when it is not about a repo (the account check), for the message; null: a repo's request.</param>
internal sealed record HubRequestContext(RepoType RepoType, RepoId? RepoId, string? Revision, string? FilePath, AccessToken? Token, string Endpoint, string? Request = null)
{
    /// <summary>The repo as messages name it (<c>model 'org/name'</c>), or what was asked when it is about no repo.</summary>
    public string Describe() => RepoId is { } id ? $"{RepoType.Name()} '{id}'" : Request ?? "the repository";

    /// <summary>See <see cref="HubClientOptions.TokenFromClientOptions"/>: where the advice for a missing token points.</summary>
    public bool TokenFromClientOptions { get; init; }

    /// <summary>
    /// The file is in the Hub's own listing at <see cref="Revision"/> (a download of a planned file): a 404 for it is
    /// the Hub failing to serve a file it has, not a wrong name.
    /// </summary>
    public bool FileListed { get; init; }

    /// <summary>
    /// The Hub already answered for <see cref="Revision"/>, a commit, in this run (an earlier page of its listing): a
    /// RevisionNotFound for it now means the commit went away meanwhile, not a wrong name.
    /// </summary>
    public bool CommitSeen { get; init; }
}

/// <summary>
/// The one place where a non-success Hub response becomes a typed exception (hub-api.md §5.2), with a message that
/// says what to do next. Never puts a token in a message.
/// </summary>
internal static class HubErrorMapper
{
    /// <summary>Said of a repo not found when no token was sent (the command replaces it when a token was withheld).</summary>
    public const string NoTokenHint = "If it is private, log in (or set HF_TOKEN).";

    /// <summary>Said instead of <see cref="NoTokenHint"/> to a library client whose token comes from its options only.</summary>
    private const string NoOptionsTokenHint = "If it is private, give a token of an account with access in HfdlClientOptions.Token.";

    private const int MaxBodyChars = 2000;

    public static async Task<HubException> CreateAsync(HttpResponseMessage response, HubRequestContext context, CancellationToken cancellationToken)
    {
        var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
        return Create(response.StatusCode, response.Headers, body, context);
    }

    /// <summary>
    /// An error answer of a storage service to a URL it signed (a Xet xorb range, sent with no token): named as that
    /// server's, for <paramref name="what"/>; none of the Hub's advice (repo names, tokens) applies to it.
    /// </summary>
    /// <param name="listedFile">The Hub sent hfdl to that server for a file it lists: a 404 or 410 there is the Hub's storage failing, and says so.</param>
    public static async Task<HubException> CreateStorageAsync(HttpResponseMessage response, string server, string what, CancellationToken cancellationToken, bool listedFile = false)
    {
        var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var headers = response.Headers;
        var status = response.StatusCode;
        var serverMessage = Printable(ServerMessage(headers, body));
        var requestId = RequestId(headers, null);
        var numeric = (int)status;
        var message = $"{server} answered {numeric}{ReasonPhrase(status)} for {what}."
            + (numeric >= 500 || status == HttpStatusCode.TooManyRequests ? " The server may be having trouble; try again later." : "")
            + (listedFile && status is HttpStatusCode.NotFound or HttpStatusCode.Gone
                ? " The Hub lists the file, so the problem is on the Hub's side, not in the file name. Try again later, and if it persists, tell the repo's owners."
                : "")
            + (serverMessage is null ? "" : $" It said: \"{serverMessage}\"");
        var wait = numeric >= 500 || status == HttpStatusCode.TooManyRequests ? RateLimitHeaders.RetryDelay(headers) : null;
        return status == HttpStatusCode.TooManyRequests
            ? new RateLimitedException(message, status, serverMessage, requestId, wait)
            : new HubException(message, status, serverMessage, requestId) { RetryAfter = wait };
    }

    private static string? RequestId(HttpResponseHeaders headers, AccessToken? token)
    {
        var requestId = Redact(First(headers, "X-Request-Id") ?? First(headers, "X-Amzn-Trace-Id") ?? First(headers, "X-Amz-Cf-Id"), token);
        return Printable(requestId is { Length: > 100 } ? requestId[..100] + "..." : requestId);
    }

    internal static HubException Create(HttpStatusCode status, HttpResponseHeaders headers, string? body, HubRequestContext context)
    {
        var errorCode = First(headers, "X-Error-Code");
        // A server may echo the Authorization header back; what it says is quoted to the user, so the token is masked
        // before anything is cut or quoted.
        // Control characters are escaped too: a hostile server must not reach the user's terminal with escape codes.
        var serverMessage = Printable(Redact(ServerMessage(headers, Redact(body, context.Token)), context.Token));
        var requestId = RequestId(headers, context.Token);
        var repo = context.Describe();
        var repoPage = context.RepoId is { } rid ? $"{context.Endpoint}/{context.RepoType.FilePrefix()}{rid}" : context.Endpoint;
        var said = serverMessage is null ? "" : $" The Hub said: \"{serverMessage}\"";
        var numeric = (int)status;

        if (errorCode == "RevisionNotFound" && (context.FileListed || context.CommitSeen) && context.Revision is { } gone && Transfer.RepoDownloader.IsCommit(gone))
        {
            // hfdl resolved the revision to this commit at the start and the Hub answered for it since: the branch (or
            // tag) moved off it, or was force-pushed, while hfdl worked. The name the user gave is right.
            return new RevisionNotFoundException(
                $"Commit '{gone}' of {repo}, which this run is downloading, is no longer on the Hub: the Hub answered for it earlier in the run, so the branch or tag asked for moved to another commit (or was force-pushed) while hfdl worked. Nothing of another commit was mixed in; run the same command again to get the revision as it is now.{said}",
                status, serverMessage, requestId);
        }
        if (errorCode == "RevisionNotFound")
        {
            return new RevisionNotFoundException(
                $"Revision '{context.Revision}' does not exist in {repo}. Check the branch, tag or commit name (list them on {repoPage}).{said}",
                status, serverMessage, requestId);
        }
        if (errorCode == "EntryNotFound" && context.FileListed)
        {
            // The listing has the file at that very commit, so the name is right: on the real Hub this is a storage
            // object gone missing. Not an EntryNotFoundException, whose advice is to check the name (QA: helper-50).
            return new HubException(
                $"The Hub lists '{Printable(context.FilePath)}' in {repo} at commit '{context.Revision}', but answered 404 when asked for it: the problem is on the Hub's side, not in the file name. Try again later, and if it persists, tell the repo's owners (on {repoPage}).{said}",
                status, serverMessage, requestId);
        }
        if (errorCode == "EntryNotFound")
        {
            return new EntryNotFoundException(
                $"File '{context.FilePath}' does not exist in {repo} at revision '{context.Revision}'. Check the file name in the repo's file list.{said}",
                status, serverMessage, requestId, First(headers, "X-Repo-Commit"));
        }
        if (errorCode == "GatedRepo")
        {
            var pending = serverMessage?.Contains("awaiting", StringComparison.OrdinalIgnoreCase) == true
                || serverMessage?.Contains("pending", StringComparison.OrdinalIgnoreCase) == true;
            string message;
            if (context.Token is null)
            {
                message = $"{Capitalize(repo)} is gated: you must be logged in and have been granted access. Request access on {repoPage}, then {(context.TokenFromClientOptions ? "give a token of that account in HfdlClientOptions.Token" : "log in (or set HF_TOKEN)")}.";
            }
            else if (pending)
            {
                message = $"{Capitalize(repo)} is gated and your access request is still pending review by its authors. Wait for approval on {repoPage}, then run the same command again.";
            }
            else
            {
                message = $"{Capitalize(repo)} is gated and the account of {context.Token.Describe()} is not in its authorized list. Request access on {repoPage}, then run the same command again.";
            }
            return new GatedRepoException(message + said, status, serverMessage, requestId, pending) { TokenSent = context.Token is not null };
        }
        if (serverMessage == "Access to this resource is disabled.")
        {
            return new DisabledRepoException(
                $"{Capitalize(repo)} has been disabled on the Hub and cannot be downloaded.{said}", status, serverMessage, requestId);
        }
        // A 401 to a request about no repo (the account check) can only be about the token sent, whatever the server's
        // words: "bad token" from another Hub said nothing of which token or what to do (QA: helper-45).
        if (status == HttpStatusCode.Unauthorized
            && (serverMessage?.Contains("Invalid credentials", StringComparison.OrdinalIgnoreCase) == true || (context.RepoId is null && context.Token is not null)))
        {
            var which = context.Token?.Describe() ?? "the token";
            // A token variable overrides any saved token, so logging in again would change nothing: the variable is
            // what to fix or unset.
            var fix = context.Token?.Origin switch
            {
                TokenOrigin.HfTokenVariable => $"Set HF_TOKEN to a valid one (create it at {context.Endpoint}/settings/tokens), or unset HF_TOKEN: it overrides any saved token.",
                TokenOrigin.LegacyTokenVariable => $"Set HUGGING_FACE_HUB_TOKEN to a valid one (create it at {context.Endpoint}/settings/tokens), or unset it: it overrides any saved token.",
                // A token given explicitly overrides any login too: it is the one to replace, or to leave out.
                TokenOrigin.CommandLine => $"Give a valid one (create it at {context.Endpoint}/settings/tokens), or leave it out to use the token set in the environment or saved, if any.",
                // A library client's own token: no login or variable is read, so the options are what to fix.
                TokenOrigin.Explicit => $"Give a valid one in HfdlClientOptions.Token (create it at {context.Endpoint}/settings/tokens), or none to download public repos without one.",
                _ => $"Create a new one at {context.Endpoint}/settings/tokens and log in again, or remove it to download public repos without one.",
            };
            return new InvalidTokenException($"The Hub rejected {which}: it is invalid or expired. {fix}{said}", status, serverMessage, requestId)
            {
                RejectedTokenOrigin = context.Token?.Origin,
            };
        }
        if ((errorCode == "RepoNotFound" || status == HttpStatusCode.Unauthorized) && context.Request is null)
        {
            var hint = context.Token is null
                ? (context.TokenFromClientOptions ? NoOptionsTokenHint : NoTokenHint)
                : $"If it is private, check that the account of {context.Token.Describe()} has access to it.";
            return new RepositoryNotFoundException(
                $"{Capitalize(repo)} was not found, or it is private. Check the name and the repo type (model, dataset or space). {hint}{said}",
                status, serverMessage, requestId) { TokenSent = context.Token is not null };
        }
        if (status == HttpStatusCode.Forbidden)
        {
            return new HubException(
                $"The Hub refused access to {repo} (403 Forbidden). Make sure {context.Token?.Describe() ?? "your token"} has read permission for it.{said}",
                status, serverMessage, requestId);
        }
        if (status == HttpStatusCode.TooManyRequests)
        {
            var wait = RateLimitHeaders.RetryDelay(headers);
            return new RateLimitedException(
                $"The Hub is rate limiting requests{(wait is { } w ? $" (retry after {w.TotalSeconds:0} s)" : "")}. Wait a few minutes and run the same command again; logging in raises the limits.{said}",
                status, serverMessage, requestId, wait);
        }
        if (status == HttpStatusCode.RequestUriTooLong)
        {
            // A revision or file path of tens of thousands of characters: no branch, tag or file is named so.
            return new HubException(
                $"The Hub refused the request for {repo} as too long (414 URI Too Long): the revision or file name asked for is longer than any the Hub holds. Check them.{said}",
                status, serverMessage, requestId);
        }
        if (status == HttpStatusCode.NotFound)
        {
            return new HubException(
                $"The Hub answered 404 Not Found for {repo}{(context.FilePath is null ? "" : $" file '{context.FilePath}'")}. Check the name, revision and repo type.{said}",
                status, serverMessage, requestId);
        }
        return new HubException(
            $"The Hub answered {numeric}{ReasonPhrase(status)} for {repo}.{(numeric >= 500 ? " The server may be having trouble; try again later." : "")}{said}",
            status, serverMessage, requestId)
        {
            // A 503 may say when to come back, as a 429 does.
            RetryAfter = numeric >= 500 ? RateLimitHeaders.RetryDelay(headers) : null,
        };
    }

    private static string? Redact(string? text, AccessToken? token) => token is null ? text : token.Redact(text);

    private static string? Printable(string? text) => text is null ? null : SafeText.Printable(text);

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>" Not Found" for 404, as the status line says it (with its leading space); "" for a status .NET has no name for.</summary>
    private static string ReasonPhrase(HttpStatusCode status)
    {
        var name = status.ToString();
        if (int.TryParse(name, out _))
        {
            return "";
        }
        var phrase = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && (i == 0 || char.IsLower(name[i - 1])))
            {
                phrase.Append(' ');
            }
            phrase.Append(name[i]);
        }
        return phrase.ToString();
    }

    internal static string? First(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>X-Error-Message first, then the JSON body keys the Hub uses, then a short non-HTML text body.</summary>
    internal static string? ServerMessage(HttpResponseHeaders headers, string? body)
    {
        if (First(headers, "X-Error-Message") is { Length: > 0 } header)
        {
            return header.Length > 300 ? header[..300] + "..." : header;
        }
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }
        var trimmed = body.Trim();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(trimmed);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (doc.RootElement.TryGetProperty("error", out var error))
                    {
                        if (error.ValueKind == JsonValueKind.String)
                        {
                            return error.GetString();
                        }
                        if (error.ValueKind == JsonValueKind.Array)
                        {
                            return string.Join("; ", error.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()));
                        }
                    }
                    if (doc.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
                    {
                        return string.Join("; ", errors.EnumerateArray()
                            .Select(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m) ? m.GetString() : null)
                            .Where(m => m is not null));
                    }
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: fall through to the text rule.
            }
            return null;
        }
        if (trimmed.StartsWith('<'))
        {
            return null; // HTML or XML error pages say nothing a user needs.
        }
        return trimmed.Length > 300 ? trimmed[..300] + "..." : trimmed;
    }

    private static async Task<string?> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            // Bounded: a hostile server must not make us read a huge error body.
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[MaxBodyChars * 2];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
            }
            return Encoding.UTF8.GetString(buffer, 0, total);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return null;
        }
    }
}

/// <summary>Reads <c>RateLimit</c> (<c>"bucket";r=0;t=N</c>) and <c>Retry-After</c> (seconds) as huggingface_hub does.</summary>
internal static class RateLimitHeaders
{
    /// <summary>
    /// The longest wait a server can ask for: the Hub's windows last 5 minutes, and a hostile server must not park hfdl
    /// for days with <c>Retry-After: 999999999</c>. A longer request waits this long; the retry that follows (and its
    /// budget) decides the rest.
    /// </summary>
    public static TimeSpan MaxRetryDelay { get; } = TimeSpan.FromMinutes(10);

    public static TimeSpan? RetryDelay(HttpResponseHeaders headers)
    {
        if (headers.TryGetValues("RateLimit", out var values) && ParseRateLimit(string.Join(",", values)) is { Remaining: 0 } limit)
        {
            return Cap(TimeSpan.FromSeconds(limit.ResetSeconds + 1));
        }
        if (headers.RetryAfter?.Delta is { } delta && delta >= TimeSpan.Zero)
        {
            return Cap(delta + TimeSpan.FromSeconds(1));
        }
        return null;
    }

    private static TimeSpan Cap(TimeSpan delay) => delay > MaxRetryDelay ? MaxRetryDelay : delay;

    /// <summary>Parses <c>"api";r=0;t=55</c>. Returns null when r or t is missing or not a number.</summary>
    public static (string? Bucket, long Remaining, long ResetSeconds)? ParseRateLimit(string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > 1000)
        {
            return null;
        }
        string? bucket = null;
        long? remaining = null;
        long? reset = null;
        foreach (var rawPart in value.Split(';'))
        {
            var part = rawPart.Trim();
            if (part.StartsWith('"') && part.EndsWith('"') && part.Length >= 2)
            {
                bucket = part[1..^1];
            }
            else if (part.StartsWith("r=", StringComparison.Ordinal) && long.TryParse(part[2..], out var r) && r >= 0)
            {
                remaining = r;
            }
            else if (part.StartsWith("t=", StringComparison.Ordinal) && long.TryParse(part[2..], out var t) && t is >= 0 and <= 86_400)
            {
                reset = t;
            }
        }
        return remaining is { } rem && reset is { } res ? (bucket, rem, res) : null;
    }
}

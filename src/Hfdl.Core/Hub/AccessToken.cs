using Hfdl.Core.Storage;
namespace Hfdl.Core.Hub;

/// <summary>Where a token came from, so an error can say which one the Hub rejected.</summary>
internal enum TokenOrigin
{
    CommandLine,
    HfTokenVariable,
    LegacyTokenVariable,
    TokenFile,

    /// <summary>Typed at the <c>hfdl login</c> prompt or piped to <c>hfdl login --token-stdin</c>.</summary>
    Login,

    /// <summary>Given to the library in <c>HfdlClientOptions.Token</c>.</summary>
    Explicit,
}

/// <summary>
/// A Hub access token. <see cref="ToString"/> never shows the value: tokens must not reach logs, messages or state
/// files by accident. Only <see cref="HubClient"/> reads <see cref="Value"/>, to build the Authorization header.
/// </summary>
internal sealed class AccessToken
{
    public AccessToken(string value, TokenOrigin origin, string? filePath = null)
    {
        Origin = origin;
        FilePath = filePath;
        Value = Clean(value) ?? throw new ArgumentException("A token must not be empty.", nameof(value));
        if (Value.Length > MaxLength)
        {
            // Sent as it is, it would only earn a 431 from the Hub (headers too large) that names no cause.
            throw new InvalidOptionException(Capitalized(Describe()), $"is {Value.Length.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} characters long, which cannot be a Hub token (they are about 40). Check that it holds only the token, copied again from your Hub account's token settings.");
        }
        foreach (var c in Value)
        {
            if (c is < '!' or > '~')
            {
                // Said without the value: a token pasted with a stray character is still a secret.
                throw new InvalidOptionException(Capitalized(Describe()), "contains a character a Hub token cannot have (a space, a control or a non-ASCII character). Copy it again from your Hub account's token settings.");
            }
        }
    }

    /// <summary>
    /// The longest token sent. Hub tokens are about 40 characters (OAuth ones a little more); this leaves room for
    /// other schemes a private endpoint may use while staying far under the 8 KiB servers allow for a header.
    /// </summary>
    public const int MaxLength = 4096;

    /// <summary>
    /// Cleans a token as huggingface_hub's <c>_clean_token</c> does: every <c>\r</c> and <c>\n</c> removed, then
    /// surrounding white space; null when nothing is left.
    /// </summary>
    public static string? Clean(string? value) =>
        value?.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim() is { Length: > 0 } clean ? clean : null;

    private static string Capitalized(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    internal string Value { get; }

    public TokenOrigin Origin { get; }

    public string? FilePath { get; }

    /// <summary>A phrase for messages: "the token given on the command line", "the token in HF_TOKEN", ...</summary>
    public string Describe() => Origin switch
    {
        TokenOrigin.CommandLine => "the token given on the command line",
        TokenOrigin.HfTokenVariable => "the token in the HF_TOKEN environment variable",
        TokenOrigin.LegacyTokenVariable => "the token in the HUGGING_FACE_HUB_TOKEN environment variable",
        TokenOrigin.TokenFile => $"the token in {FilePath ?? "the token file"}",
        TokenOrigin.Login => "the token given at login",
        TokenOrigin.Explicit => "the token in the client's options",
        _ => "the token",
    };

    public override string ToString() => Mask(Value);

    /// <summary>Replaces every occurrence of this token in <paramref name="text"/> (any case) with its mask.</summary>
    public string? Redact(string? text) =>
        text is null || text.Length < Value.Length ? text : text.Replace(Value, Mask(Value), StringComparison.OrdinalIgnoreCase);

    /// <summary>Shows a token's kind and nothing else: <c>hf_***</c>.</summary>
    public static string Mask(string token) =>
        token.StartsWith("hf_", StringComparison.Ordinal) ? "hf_***"
        : token.StartsWith("api_org_", StringComparison.Ordinal) ? "api_org_***"
        : "***";

    /// <summary>
    /// Finds the token the way huggingface_hub's <c>get_token</c> does, first hit wins: the explicit one,
    /// <c>HF_TOKEN</c> (or, when that is unset or empty, the legacy <c>HUGGING_FACE_HUB_TOKEN</c>), then the token file
    /// (<c>HF_TOKEN_PATH</c> or <c>$HF_HOME/token</c>). Each is cleaned (<see cref="Clean"/>); one that is blank after
    /// cleaning counts as absent. With <c>HF_HUB_DISABLE_IMPLICIT_TOKEN</c> set only an explicit token is used, unless
    /// <paramref name="evenIfImplicitDisabled"/>: huggingface_hub's <c>whoami</c> asks about the stored token whatever
    /// that variable says (<c>token or self.token or get_token()</c>), since asking about it is the point.
    /// A token file that exists but cannot be read is an error that says so, not a silent "not logged in".
    /// </summary>
    public static AccessToken? Discover(string? explicitToken, HubEnvironment environment, bool evenIfImplicitDisabled = false)
    {
        if (Clean(explicitToken) is { } given)
        {
            return new AccessToken(given, TokenOrigin.CommandLine);
        }
        if (!evenIfImplicitDisabled && environment.IsTrue("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
        {
            return null;
        }
        // Python: os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"), cleaned afterwards.
        if (environment.Get("HF_TOKEN") is { } fromEnv)
        {
            if (Clean(fromEnv) is { } cleaned)
            {
                return new AccessToken(cleaned, TokenOrigin.HfTokenVariable);
            }
        }
        else if (Clean(environment.Get("HUGGING_FACE_HUB_TOKEN")) is { } legacy)
        {
            return new AccessToken(legacy, TokenOrigin.LegacyTokenVariable);
        }
        var path = environment.TokenPath;
        new TokenStore(environment).CheckTokenPath();
        try
        {
            if (File.Exists(path) && Clean(SafeFileSystem.ReadSmallTextFile(path, TokenStore.MaxTokenFileBytes)) is { } text)
            {
                return new AccessToken(text, TokenOrigin.TokenFile, path);
            }
        }
        catch (TooLargeFileException tooLarge)
        {
            // As a token too long to be one: the file holds something else, and it is the setting to fix (exit 2).
            throw new InvalidOptionException($"The token file {path}", $"holds more than {tooLarge.Limit.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes, which cannot be a Hub token (they are about 40 characters). Check that it holds only the token, copied again from your Hub account's token settings.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Permissions are the usual reason; a FIFO or a device there is another, which no chmod fixes.
            var fix = SafeFileSystem.IsSpecialFile(path)
                ? "Replace it with a file that holds only the token, remove it (log out), or set HF_TOKEN."
                : "Fix its permissions (it should belong to you, mode 600), remove it (log out), or set HF_TOKEN.";
            throw new HfdlException($"The token file {path} exists but cannot be read ({ex.Message}). {fix}", ex);
        }
        return null;
    }
}

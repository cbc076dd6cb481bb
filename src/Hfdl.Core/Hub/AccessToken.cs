namespace Hfdl.Hub;

/// <summary>Where a token came from, so an error can say which one the Hub rejected.</summary>
public enum TokenOrigin
{
    CommandLine,
    HfTokenVariable,
    LegacyTokenVariable,
    TokenFile,
}

/// <summary>
/// A Hub access token. <see cref="ToString"/> never shows the value: tokens must not reach logs, messages or state
/// files by accident. Only <see cref="HubClient"/> reads <see cref="Value"/>, to build the Authorization header.
/// </summary>
public sealed class AccessToken
{
    public AccessToken(string value, TokenOrigin origin, string? filePath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        Value = value.Trim();
        Origin = origin;
        FilePath = filePath;
    }

    internal string Value { get; }

    public TokenOrigin Origin { get; }

    public string? FilePath { get; }

    /// <summary>A phrase for messages: "the token given with --token", "the token in HF_TOKEN", ...</summary>
    public string Describe() => Origin switch
    {
        TokenOrigin.CommandLine => "the token given with --token",
        TokenOrigin.HfTokenVariable => "the token in the HF_TOKEN environment variable",
        TokenOrigin.LegacyTokenVariable => "the token in the HUGGING_FACE_HUB_TOKEN environment variable",
        TokenOrigin.TokenFile => $"the token in {FilePath ?? "the token file"}",
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
    /// Finds the token the way huggingface_hub does, first hit wins: the explicit one, <c>HF_TOKEN</c>,
    /// <c>HUGGING_FACE_HUB_TOKEN</c>, then the token file (<c>HF_TOKEN_PATH</c> or <c>$HF_HOME/token</c>).
    /// With <c>HF_HUB_DISABLE_IMPLICIT_TOKEN</c> set only an explicit token is used.
    /// </summary>
    public static AccessToken? Discover(string? explicitToken, HubEnvironment environment)
    {
        if (!string.IsNullOrWhiteSpace(explicitToken))
        {
            return new AccessToken(explicitToken, TokenOrigin.CommandLine);
        }
        if (environment.IsTrue("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
        {
            return null;
        }
        if (environment.Get("HF_TOKEN") is { } fromEnv && !string.IsNullOrWhiteSpace(fromEnv))
        {
            return new AccessToken(fromEnv, TokenOrigin.HfTokenVariable);
        }
        if (environment.Get("HUGGING_FACE_HUB_TOKEN") is { } legacy && !string.IsNullOrWhiteSpace(legacy))
        {
            return new AccessToken(legacy, TokenOrigin.LegacyTokenVariable);
        }
        var path = environment.TokenPath;
        try
        {
            if (File.Exists(path))
            {
                var text = File.ReadAllText(path).Trim();
                if (text.Length > 0)
                {
                    return new AccessToken(text, TokenOrigin.TokenFile, path);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // An unreadable token file is the same as none: public repos still work, and a private one will say
            // how to log in.
        }
        return null;
    }
}

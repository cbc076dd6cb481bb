using System.Text;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Hub;

/// <summary>
/// The token files hfdl shares with huggingface_hub, so one login serves both tools:
/// <list type="bullet">
/// <item><c>token</c> (at <c>HF_TOKEN_PATH</c>, default <c>$HF_HOME/token</c>): the active token, one line, nothing else.</item>
/// <item><c>stored_tokens</c> (beside it): an INI file of named tokens, <c>[name]</c> then <c>hf_token = ...</c>, that
/// <c>hf auth list</c> and <c>hf auth switch</c> read. hfdl adds the token it logs in with under the name the Hub gives
/// it, and keeps every other section and field as it found them; a file it cannot read faithfully is left alone.</item>
/// </list>
/// Both are written atomically with mode 600 from the first byte: a temporary file created owner-only, written,
/// flushed to disk and renamed over the old one. No reader ever sees a half-written or world-readable token.
/// </summary>
internal sealed class TokenStore(HubEnvironment environment)
{
    private const string TokenKey = "hf_token";

    /// <summary>The most the token file is read of: a token is at most <see cref="AccessToken.MaxLength"/> characters, give or take spaces.</summary>
    public const int MaxTokenFileBytes = 64 * 1024;

    /// <summary>The most <c>stored_tokens</c> is read of: thousands of named tokens.</summary>
    public const int MaxStoredTokensBytes = 4 * 1024 * 1024;

    /// <summary>The active token's file: <c>HF_TOKEN_PATH</c>, else <c>$HF_HOME/token</c>.</summary>
    public string TokenPath { get; } = environment.TokenPath;

    /// <summary>huggingface_hub's <c>HF_STORED_TOKENS_PATH</c>: <c>stored_tokens</c> in the token file's folder.</summary>
    public string StoredTokensPath => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(TokenPath))!, "stored_tokens");

    /// <summary>
    /// Makes <paramref name="token"/> the active token, and records it in <c>stored_tokens</c> under
    /// <paramref name="name"/> (the token's display name on the Hub) when that name and the file allow it.
    /// Returns a note for the user when <c>stored_tokens</c> was left alone, else null.
    /// </summary>
    public string? Save(AccessToken token, string? name)
    {
        CheckDestinations();
        var writes = new List<(string Path, string Content)>();
        string? note = null;
        if (!IsUsableName(name))
        {
            note = $"The Hub gave the token no usable name, so it was not added to {StoredTokensPath} (`hf auth list` will not show it).";
        }
        else if (ReadStoredTokens() is not { } sections)
        {
            note = $"{LeftUnchanged}.";
        }
        else
        {
            // As huggingface_hub does: the section is replaced whole, so stale OAuth fields of an old token go too.
            sections.RemoveAll(s => s.Name == name);
            sections.Add(new Section(name!, [(TokenKey, token.Value)]));
            writes.Add((StoredTokensPath, Format(sections.OrderBy(s => s.Name, StringComparer.Ordinal))));
        }
        writes.Add((TokenPath, token.Value));
        WriteSecrets(writes);
        return note;
    }

    /// <summary>
    /// Stops, naming the setting to fix, when the token file or <c>stored_tokens</c> cannot be written where they
    /// belong: a file where their folder should be (HF_HOME pointing at a file) or a folder where either file should
    /// be (HF_TOKEN_PATH pointing at a folder). Checked before anything is written, so such a place never leaves one
    /// file written and the other not.
    /// </summary>
    public void CheckDestinations()
    {
        CheckTokenPath();
        if (IsFolder(StoredTokensPath))
        {
            throw new HfdlException($"'{StoredTokensPath}' is a folder where huggingface_hub's stored_tokens file belongs; remove or rename it.");
        }
        RefuseSpecialFile(TokenPath, "the token file");
        RefuseSpecialFile(StoredTokensPath, "huggingface_hub's stored_tokens file");
    }

    /// <summary>
    /// A FIFO, a device or a socket where a token file belongs (<c>HF_TOKEN_PATH=/dev/null</c>, a common way to keep no
    /// token file) is neither replaced nor deleted: a login run as root replaced the system's /dev/null with a file
    /// holding the token, and a logout deleted the device.
    /// </summary>
    private void RefuseSpecialFile(string path, string what)
    {
        if (SafeFileSystem.IsSpecialFile(path))
        {
            throw new HfdlException($"'{SafeText.Printable(path)}' is not a regular file (a FIFO, a device or a socket), where {what} belongs; hfdl neither replaces nor deletes it. "
                + (environment.TokenPathSetting is { Name: "HF_TOKEN_PATH" } ? "Set HF_TOKEN_PATH to a file, or unset it." : "Remove it, or set HF_TOKEN_PATH to a file."));
        }
    }

    /// <summary>
    /// Stops, naming the setting to fix, when the token file cannot be where the settings put it: a file on the way to
    /// its folder, or a folder at its name. Reading it too: a token path that cannot be one would otherwise pass for
    /// "no token", and a private repo then fail as "not found".
    /// </summary>
    public void CheckTokenPath()
    {
        var setting = environment.TokenPathSetting;
        PathSetting.RefuseFileInTheWay(Path.GetDirectoryName(Path.GetFullPath(TokenPath))!, setting, "the token file");
        if (IsFolder(TokenPath))
        {
            throw setting is { Name: "HF_TOKEN_PATH" }
                ? new InvalidOptionException("HF_TOKEN_PATH", $"is '{TokenPath}', which is a folder; it must name the token file itself, for example '{Path.Combine(TokenPath, "token")}'.")
                // A usage error like the one above (exit 2), whichever setting put the token file there (QA: helper-63).
                : setting is { } home
                    ? new InvalidOptionException(home.Name, $"puts the token file at '{TokenPath}', which is a folder; remove or rename that folder, or set HF_TOKEN_PATH to another file.")
                    : new InvalidOptionException("The token file", $"would be '{TokenPath}', which is a folder; remove or rename it, or set HF_TOKEN_PATH to another file.");
        }
    }

    /// <summary>A real folder: a link is not, since renaming a file over a link replaces the link.</summary>
    private static bool IsFolder(string path) =>
        Directory.Exists(path) && (File.GetAttributes(path) & FileAttributes.ReparsePoint) == 0;

    /// <summary>What is said when <c>stored_tokens</c> cannot be read faithfully and so is not rewritten.</summary>
    public string LeftUnchanged => $"{StoredTokensPath} is not in the format huggingface_hub writes; hfdl left it unchanged";

    /// <summary>
    /// What <see cref="Remove"/> did. <paramref name="StoredTokensUnreadable"/>: <c>stored_tokens</c> could not be read
    /// faithfully, so it was left as it was and may still hold the token just logged out of.
    /// </summary>
    public sealed record RemoveResult(bool RemovedTokenFile, int RemovedStoredTokens, bool RemovedStoredTokensFile, bool StoredTokensUnreadable = false);

    /// <summary>
    /// Logs out: deletes the token file and the <c>stored_tokens</c> entries holding the same token, so the secret is
    /// gone from disk; with <paramref name="all"/>, deletes <c>stored_tokens</c> entirely (as <c>hf auth logout</c> does).
    /// </summary>
    public RemoveResult Remove(bool all)
    {
        RefuseSpecialFile(TokenPath, "the token file");
        RefuseSpecialFile(StoredTokensPath, "huggingface_hub's stored_tokens file");
        string? active = null;
        var removedToken = false;
        if (File.Exists(TokenPath))
        {
            try
            {
                active = AccessToken.Clean(SafeFileSystem.ReadSmallTextFile(TokenPath, MaxTokenFileBytes));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Unreadable: it is deleted all the same.
            }
            File.Delete(TokenPath);
            removedToken = true;
        }
        if (!File.Exists(StoredTokensPath))
        {
            return new RemoveResult(removedToken, 0, false);
        }
        if (all)
        {
            File.Delete(StoredTokensPath);
            return new RemoveResult(removedToken, 0, true);
        }
        if (ReadStoredTokens() is not { } sections)
        {
            return new RemoveResult(removedToken, 0, false, StoredTokensUnreadable: true);
        }
        if (active is null)
        {
            return new RemoveResult(removedToken, 0, false);
        }
        var removed = sections.RemoveAll(s => s.Fields.Any(f => f.Key == TokenKey && AccessToken.Clean(f.Value) == active));
        if (removed > 0)
        {
            if (sections.Count == 0)
            {
                File.Delete(StoredTokensPath);
                return new RemoveResult(removedToken, removed, true);
            }
            WriteSecret(StoredTokensPath, Format(sections));
        }
        return new RemoveResult(removedToken, removed, false);
    }

    /// <summary>A token saved by name in <c>stored_tokens</c>, as <c>hf auth list</c> shows it: never the token itself.</summary>
    public sealed record StoredToken(string Name, string Masked, bool IsActive);

    /// <summary>
    /// The tokens of <c>stored_tokens</c>, masked, in the file's order; the one equal to <paramref name="active"/> (the
    /// token in use) is marked. Empty when there is no such file.
    /// </summary>
    public IReadOnlyList<StoredToken> ListStoredTokens(AccessToken? active) =>
        ReadStoredTokensOrThrow()
            .Select(s => (s.Name, Token: AccessToken.Clean(s.Fields.FirstOrDefault(f => f.Key == TokenKey).Value)))
            .Select(t => new StoredToken(t.Name, t.Token is null ? "<not set>" : MaskForListing(t.Token), t.Token is not null && t.Token == active?.Value))
            .ToList();

    /// <summary>
    /// <c>hf auth switch</c>: makes the token saved as <paramref name="name"/> in <c>stored_tokens</c> the active one
    /// (written to the token file, mode 600). Throws when there is no token of that name.
    /// </summary>
    public void Switch(string name)
    {
        var token = ReadStoredTokensOrThrow().FirstOrDefault(s => s.Name == name)?.Fields.FirstOrDefault(f => f.Key == TokenKey).Value;
        if (AccessToken.Clean(token) is not { } clean)
        {
            throw new UnknownTokenNameException($"{StoredTokensPath} holds no token named '{SafeText.Printable(name)}'. {UnknownTokenNameException.Advice}");
        }
        CheckDestinations();
        WriteSecret(TokenPath, clean);
    }

    /// <summary>What <see cref="RemoveNamed"/> did.</summary>
    public sealed record RemoveNamedResult(bool Found, bool RemovedTokenFile);

    /// <summary>
    /// <c>hf auth logout --token-name</c>: deletes the token saved as <paramref name="name"/> from <c>stored_tokens</c>,
    /// and the token file too when it holds that same token.
    /// </summary>
    public RemoveNamedResult RemoveNamed(string name)
    {
        var sections = ReadStoredTokensOrThrow();
        var section = sections.FirstOrDefault(s => s.Name == name);
        if (section is null)
        {
            return new RemoveNamedResult(false, false);
        }
        sections.Remove(section);
        if (sections.Count == 0)
        {
            File.Delete(StoredTokensPath);
        }
        else
        {
            WriteSecret(StoredTokensPath, Format(sections));
        }
        var token = AccessToken.Clean(section.Fields.FirstOrDefault(f => f.Key == TokenKey).Value);
        string? active = null;
        try
        {
            active = File.Exists(TokenPath) ? AccessToken.Clean(SafeFileSystem.ReadSmallTextFile(TokenPath, MaxTokenFileBytes)) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Unreadable: it cannot be shown to hold this token, so it stays.
        }
        if (token is null || active != token)
        {
            return new RemoveNamedResult(true, false);
        }
        File.Delete(TokenPath);
        return new RemoveNamedResult(true, true);
    }

    /// <summary>
    /// Masks a token the way <c>hf auth list</c> does (<c>hf_****abcd</c>: the first three and last four characters),
    /// but only for a token long enough that those seven characters are a small part of it (Hub tokens have 37);
    /// shorter ones show their kind only.
    /// </summary>
    private static string MaskForListing(string token) =>
        token.Length >= 20 ? $"{token[..3]}****{token[^4..]}" : AccessToken.Mask(token);

    private List<Section> ReadStoredTokensOrThrow() =>
        ReadStoredTokens() ?? throw new HfdlException(_unreadable is { } why
            ? $"{StoredTokensPath} cannot be read: {why}. hfdl leaves it as it is. Fix or remove it, then log in again."
            : $"{StoredTokensPath} cannot be read as the INI file huggingface_hub writes; hfdl leaves it as it is. Fix or remove it, then log in again.");

    /// <summary>Why <c>stored_tokens</c> could not be read at all, when it could not (not: read, but not in its format).</summary>
    private string? _unreadable;

    /// <summary>The names in <c>stored_tokens</c> (never the tokens), or null when it is absent or unreadable.</summary>
    public IReadOnlyList<string>? StoredTokenNames() => File.Exists(StoredTokensPath) ? ReadStoredTokens()?.Select(s => s.Name).ToList() : null;

    /// <summary>
    /// Writes a secret atomically with mode 600: the temporary file is created owner-only (never a moment with wider
    /// permissions), flushed to disk and renamed over <paramref name="path"/>. A missing folder is created with mode 700.
    /// A symbolic link at <paramref name="path"/> is replaced, not written through.
    /// </summary>
    public static void WriteSecret(string path, string content) => WriteSecrets([(path, content)]);

    /// <summary>
    /// Writes several secrets (see <see cref="WriteSecret"/>) so that a failure leaves them all as they were as far as
    /// it can: each is staged in its temporary file first, and only once every one is staged are they renamed in place.
    /// </summary>
    private static void WriteSecrets(IReadOnlyList<(string Path, string Content)> secrets)
    {
        var staged = new List<(string Temp, string Target)>();
        try
        {
            foreach (var (path, content) in secrets)
            {
                staged.Add((Stage(path, content), Path.GetFullPath(path)));
            }
            foreach (var (temp, target) in staged)
            {
                File.Move(temp, target, overwrite: true);
            }
        }
        finally
        {
            // The ones renamed are gone already; a failure leaves the others behind, owner-only, unless removed here.
            foreach (var (temp, _) in staged)
            {
                TryDelete(temp);
            }
        }
    }

    /// <summary>Writes <paramref name="content"/> to a new owner-only temporary file beside <paramref name="path"/>, flushed; returns its path.</summary>
    private static string Stage(string path, string content)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(folder);
            }
            else
            {
                Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using var stream = new FileStream(temp, options);
            stream.Write(Encoding.UTF8.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            TryDelete(temp); // not yet in the caller's list of staged files
            throw;
        }
        return temp;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort; it is owner-only anyway.
        }
    }

    private sealed record Section(string Name, List<(string Key, string Value)> Fields);

    private static bool IsUsableName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= 200 && name == name.Trim()
        && !name.Any(c => char.IsControl(c) || c is '[' or ']') && !name.Equals("DEFAULT", StringComparison.Ordinal);

    /// <summary>
    /// Reads <c>stored_tokens</c> as Python's configparser reads what huggingface_hub writes: sections, <c>key = value</c>
    /// (or <c>key: value</c>) with lower-cased keys, <c>#</c>/<c>;</c> comments. Returns an empty list when the file does
    /// not exist, and null for anything it cannot round-trip faithfully (continuation lines, duplicates, keys outside a
    /// section, a DEFAULT section), so such a file is never rewritten.
    /// </summary>
    private List<Section>? ReadStoredTokens()
    {
        string text;
        try
        {
            if (!File.Exists(StoredTokensPath))
            {
                return [];
            }
            text = SafeFileSystem.ReadSmallTextFile(StoredTokensPath, MaxStoredTokensBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _unreadable = ex.Message;
            return null;
        }
        var sections = new List<Section>();
        Section? current = null;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';')
            {
                continue;
            }
            if (char.IsWhiteSpace(line[0]))
            {
                return null; // A continuation line: a multi-line value hfdl would not write back the same way.
            }
            if (trimmed[0] == '[' && trimmed[^1] == ']')
            {
                var name = trimmed[1..^1];
                if (name.Length == 0 || name == "DEFAULT" || sections.Any(s => s.Name == name))
                {
                    return null;
                }
                current = new Section(name, []);
                sections.Add(current);
                continue;
            }
            var separator = trimmed.IndexOfAny(['=', ':']);
            if (current is null || separator <= 0)
            {
                return null;
            }
            var key = trimmed[..separator].Trim().ToLowerInvariant();
            if (current.Fields.Any(f => f.Key == key))
            {
                return null;
            }
            current.Fields.Add((key, trimmed[(separator + 1)..].Trim()));
        }
        return sections;
    }

    /// <summary>configparser's output: <c>[name]</c>, <c>key = value</c> lines, a blank line after each section.</summary>
    private static string Format(IEnumerable<Section> sections)
    {
        var builder = new StringBuilder();
        foreach (var section in sections)
        {
            builder.Append('[').Append(section.Name).Append("]\n");
            foreach (var (key, value) in section.Fields)
            {
                builder.Append(key).Append(" = ").Append(value).Append('\n');
            }
            builder.Append('\n');
        }
        return builder.ToString();
    }
}

/// <summary><c>stored_tokens</c> has no token under the name asked for.</summary>
internal sealed class UnknownTokenNameException(string message) : HfdlException(message)
{
    /// <summary>The message's last sentence, which a front end may say in its own words.</summary>
    public const string Advice = "List the saved tokens to see their names, or log in to add one.";
}

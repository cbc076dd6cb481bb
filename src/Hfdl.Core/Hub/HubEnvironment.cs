namespace Hfdl.Core.Hub;

/// <summary>
/// Reads the settings hfdl shares with huggingface_hub from environment variables (hub-api.md §6). The variables come
/// through a lookup function so tests and embedders can pass their own environment instead of the process's.
/// </summary>
internal sealed class HubEnvironment
{
    public const string DefaultEndpoint = "https://huggingface.co";

    private readonly Func<string, string?> _lookup;

    public HubEnvironment(Func<string, string?> lookup) => _lookup = lookup;

    /// <summary>The process environment.</summary>
    public static HubEnvironment Process { get; } = new(Environment.GetEnvironmentVariable);

    public static HubEnvironment FromDictionary(IReadOnlyDictionary<string, string?> variables) =>
        new(name => variables.TryGetValue(name, out var value) ? value : null);

    public string? this[string name] => Get(name);

    /// <summary>A variable's value, or null when it is unset or empty.</summary>
    public string? Get(string name) => _lookup(name) is { Length: > 0 } value ? value : null;

    /// <summary>
    /// True for <c>1</c>, <c>ON</c>, <c>YES</c>, <c>TRUE</c> (any case, nothing around them), exactly as huggingface_hub's
    /// <c>_is_true</c> reads flags: <c>" 1"</c> is false there, so it is here, or the two tools would disagree.
    /// </summary>
    public bool IsTrue(string name) => IsTrueValue(Get(name));

    private static bool IsTrueValue(string? value) => value?.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    /// <summary><c>HF_ENDPOINT</c> without a trailing slash, else https://huggingface.co.</summary>
    public string Endpoint => (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/');

    /// <summary><c>HF_HOME</c>, else <c>$XDG_CACHE_HOME/huggingface</c>, else <c>~/.cache/huggingface</c>.</summary>
    public string HfHome =>
        ExpandPath(Get("HF_HOME"))
        ?? Path.Combine(ExpandPath(Get("XDG_CACHE_HOME")) ?? Path.Combine(UserHome, ".cache"), "huggingface");

    /// <summary><c>HF_TOKEN_PATH</c>, else <c>$HF_HOME/token</c>.</summary>
    public string TokenPath => ExpandPath(Get("HF_TOKEN_PATH")) ?? Path.Combine(HfHome, "token");

    /// <summary><c>HF_HUB_CACHE</c>, else legacy <c>HUGGINGFACE_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>.</summary>
    public string HubCache =>
        ExpandPath(Get("HF_HUB_CACHE")) ?? ExpandPath(Get("HUGGINGFACE_HUB_CACHE")) ?? Path.Combine(HfHome, "hub");

    /// <summary>The variable that chose <see cref="HfHome"/> and the folder it names; null for the default under the home folder.</summary>
    public PathSetting? HfHomeSetting =>
        Get("HF_HOME") is not null ? new("HF_HOME", HfHome)
        : ExpandPath(Get("XDG_CACHE_HOME")) is { } xdg ? new("XDG_CACHE_HOME", xdg)
        : null;

    /// <summary>The variable that chose <see cref="TokenPath"/> (or the folder it is in) and what it names.</summary>
    public PathSetting? TokenPathSetting => Get("HF_TOKEN_PATH") is not null ? new("HF_TOKEN_PATH", TokenPath) : HfHomeSetting;

    /// <summary>The variable that chose <see cref="HubCache"/> (or the folder it is in) and what it names.</summary>
    public PathSetting? HubCacheSetting =>
        Get("HF_HUB_CACHE") is not null ? new("HF_HUB_CACHE", HubCache)
        : Get("HUGGINGFACE_HUB_CACHE") is not null ? new("HUGGINGFACE_HUB_CACHE", HubCache)
        : HfHomeSetting;

    /// <summary><c>HF_HUB_OFFLINE</c> (or <c>TRANSFORMERS_OFFLINE</c>) is true: no network call at all.</summary>
    public bool Offline => OfflineVariables.Count > 0;

    /// <summary>
    /// The variable that switches offline mode on, for a message that says which to unset. As huggingface_hub reads it
    /// (<c>_is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)</c>): a non-empty <c>HF_HUB_OFFLINE</c> decides alone, so
    /// <c>HF_HUB_OFFLINE=0</c> overrides a <c>TRANSFORMERS_OFFLINE=1</c> baked into an image.
    /// </summary>
    public IReadOnlyList<string> OfflineVariables =>
        Get("HF_HUB_OFFLINE") is { } hub ? (IsTrueValue(hub) ? ["HF_HUB_OFFLINE"] : [])
        : IsTrue("TRANSFORMERS_OFFLINE") ? ["TRANSFORMERS_OFFLINE"] : [];

    /// <summary><c>HF_HUB_DISABLE_XET</c>: every file over plain HTTPS, as <c>--no-xet</c>.</summary>
    public bool DisableXet => IsTrue("HF_HUB_DISABLE_XET");

    /// <summary><c>HF_XET_CACHE</c>, else <c>$HF_HOME/xet</c>: the Xet cache root (hfdl's chunk cache is its <c>hfdl-chunks</c> folder).</summary>
    public string XetCache => ExpandPath(Get("HF_XET_CACHE")) ?? Path.Combine(HfHome, "xet");

    /// <summary>The variable that chose <see cref="XetCache"/> (or the folder it is in) and what it names.</summary>
    public PathSetting? XetCacheSetting => Get("HF_XET_CACHE") is not null ? new("HF_XET_CACHE", XetCache) : HfHomeSetting;

    /// <summary><c>HF_HUB_DISABLE_SYMLINKS</c>: copy into snapshots instead of linking to blobs.</summary>
    public bool DisableSymlinks => IsTrue("HF_HUB_DISABLE_SYMLINKS");

    /// <summary>
    /// <c>HF_HUB_ETAG_TIMEOUT</c>: seconds one attempt of a file's metadata request (the resolve HEAD) may take, as in
    /// huggingface_hub (default 10 s there and in <see cref="HubClientOptions.EtagTimeout"/>); null when unset or 0.
    /// </summary>
    public TimeSpan? EtagTimeout => Seconds("HF_HUB_ETAG_TIMEOUT");

    /// <summary>
    /// <c>HF_HUB_DOWNLOAD_TIMEOUT</c>: seconds a transfer may deliver no bytes before it counts as stalled (see
    /// <see cref="HubClientOptions.ReadTimeout"/>); null when unset or 0.
    /// </summary>
    public TimeSpan? DownloadTimeout => Seconds("HF_HUB_DOWNLOAD_TIMEOUT");

    /// <summary><c>HFDL_MAX_LISTING_ENTRIES</c>: overrides <see cref="HubClientOptions.MaxListingEntries"/>.</summary>
    public long? MaxListingEntries => Count("HFDL_MAX_LISTING_ENTRIES");

    /// <summary><c>HFDL_MAX_LISTING_BYTES</c>: overrides <see cref="HubClientOptions.MaxListingBytes"/>.</summary>
    public long? MaxListingBytes => Count("HFDL_MAX_LISTING_BYTES");

    /// <summary>
    /// Applies the variables above to <paramref name="options"/>: the timeouts and the listing bounds the user set.
    /// </summary>
    public HubClientOptions Apply(HubClientOptions options) => options with
    {
        EtagTimeout = EtagTimeout ?? options.EtagTimeout,
        ReadTimeout = DownloadTimeout ?? options.ReadTimeout,
        MaxListingEntries = MaxListingEntries ?? options.MaxListingEntries,
        MaxListingBytes = MaxListingBytes ?? options.MaxListingBytes,
    };

    /// <summary>
    /// A number of seconds, as huggingface_hub reads its timeouts (<c>int(value) or DEFAULT</c>: 0 means the default);
    /// fractions are accepted. Anything else is refused with a message, where huggingface_hub would fail at import.
    /// </summary>
    private TimeSpan? Seconds(string name)
    {
        if (Get(name) is not { } text)
        {
            return null;
        }
        if (!double.TryParse(text.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            || !double.IsFinite(seconds) || seconds < 0 || seconds > 86_400 * 365)
        {
            throw new InvalidOptionException(name, $"must be a number of seconds (got '{SafeText.Printable(text)}'); unset it or give one such as 10.");
        }
        return seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
    }

    private long? Count(string name)
    {
        if (Get(name) is not { } text)
        {
            return null;
        }
        if (!long.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < 1)
        {
            throw new InvalidOptionException(name, $"must be a whole number of at least 1 (got '{SafeText.Printable(text)}'); unset it to use the default.");
        }
        return value;
    }

    private string UserHome => Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    /// <summary>
    /// Expands a leading <c>~</c> and then <c>$NAME</c> / <c>${NAME}</c>, the way huggingface_hub reads its paths
    /// (<c>os.path.expandvars(os.path.expanduser(...))</c>): an unknown variable is left as it is.
    /// </summary>
    public string? ExpandPath(string? path)
    {
        if (path is null)
        {
            return null;
        }
        if (path == "~")
        {
            path = UserHome;
        }
        else if (path.StartsWith("~/", StringComparison.Ordinal))
        {
            path = Path.Combine(UserHome, path[2..]);
        }
        return ExpandVariables(path);
    }

    private string ExpandVariables(string path)
    {
        if (!path.Contains('$'))
        {
            return path;
        }
        var result = new System.Text.StringBuilder();
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] != '$' || i + 1 >= path.Length)
            {
                result.Append(path[i]);
                continue;
            }
            var braced = path[i + 1] == '{';
            var start = braced ? i + 2 : i + 1;
            var end = start;
            while (end < path.Length && (char.IsAsciiLetterOrDigit(path[end]) || path[end] == '_'))
            {
                end++;
            }
            var closed = !braced || (end < path.Length && path[end] == '}');
            if (end == start || !closed || _lookup(path[start..end]) is not { } value)
            {
                result.Append(path[i]);
                continue;
            }
            result.Append(value);
            i = braced ? end : end - 1;
        }
        return result.ToString();
    }
}

/// <summary>A setting that names a path (an environment variable or an option) and the path it names, for messages.</summary>
internal sealed record PathSetting(string Name, string Value)
{
    /// <summary>
    /// Stops with a message naming the setting to fix when <paramref name="folder"/> cannot be a folder because it, or
    /// a folder on the way to it, is a file (HF_HOME pointing at a file): without this the user gets the file system's
    /// "Could not find a part of the path" or "already exists", which names neither the cause nor the setting.
    /// <paramref name="setting"/> chose the place (null: a default); <paramref name="whatGoesThere"/> says what the folder holds.
    /// </summary>
    public static void RefuseFileInTheWay(string folder, PathSetting? setting, string whatGoesThere)
    {
        var full = Path.GetFullPath(folder);
        RefuseLongName(full, setting, whatGoesThere);
        if (Storage.SafeFileSystem.FileInTheWay(full) is not { } file)
        {
            return;
        }
        if (setting is null)
        {
            throw new HfdlException($"'{SafeText.Printable(file)}' is a file, but '{SafeText.Printable(full)}' must be a folder, to hold {whatGoesThere}. Move that file away.");
        }
        var named = Path.GetFullPath(setting.Value);
        throw new InvalidOptionException(setting.Name, file == named
            ? $"is '{SafeText.Printable(named)}', which is a file; it must be a folder, to hold {whatGoesThere}. Point {setting.Name} at a folder, or move that file away."
            : $"is '{SafeText.Printable(named)}', but '{SafeText.Printable(file)}' on the way there is a file, not a folder, so it cannot hold {whatGoesThere}. Point {setting.Name} elsewhere, or move that file away.");
    }

    /// <summary>The most bytes one name in a path may have: NAME_MAX on Linux and the BSDs, and (in UTF-16 units) on Windows and macOS.</summary>
    internal const int MaxNameBytes = 255;

    /// <summary>
    /// Stops with a message naming the setting when a name in <paramref name="full"/> is longer than any file system
    /// takes: the dry run passed such a folder, and the download failed only after asking the Hub, with .NET's "The path
    /// is too long, or a component of the specified path is too long" (QA: helper-49).
    /// </summary>
    private static void RefuseLongName(string full, PathSetting? setting, string whatGoesThere)
    {
        var name = full.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)
            .FirstOrDefault(part => System.Text.Encoding.UTF8.GetByteCount(part) > MaxNameBytes);
        if (name is null)
        {
            return;
        }
        var shown = SafeText.Printable(name.Length > 40 ? $"{name[..20]}...{name[^20..]}" : name);
        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        if (setting is null)
        {
            throw new HfdlException($"'{shown}' in '{SafeText.Printable(full)}', the folder for {whatGoesThere}, is a name of {bytes} bytes, over the {MaxNameBytes} a file system takes. Choose a folder whose names are shorter.");
        }
        throw new InvalidOptionException(setting.Name,
            $"is '{SafeText.Printable(setting.Value)}', and the name '{shown}' in it is {bytes} bytes long, over the {MaxNameBytes} bytes a file system takes for one name, so it cannot hold {whatGoesThere}. Point {setting.Name} at a folder whose names are shorter.");
    }

}

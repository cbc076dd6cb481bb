using System.Text.Json;
using System.Text.Json.Serialization;
using Hfdl.Core.Hub;

namespace Hfdl.Core.Storage;

/// <summary>
/// The per-repo <c>.download_state</c> journal: which files are complete and verified, for which commit and etag.
/// Schema-versioned and validated on load; never holds a token or a signed URL.
/// </summary>
internal sealed record DownloadState
{
    public const string FileName = ".download_state";
    public const string SchemaName = "hfdl.download_state";
    public const int CurrentVersion = 1;

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaName;

    [JsonPropertyName("version")]
    public int Version { get; init; } = CurrentVersion;

    [JsonPropertyName("repoType")]
    public required string RepoType { get; init; }

    [JsonPropertyName("repoId")]
    public required string RepoId { get; init; }

    [JsonPropertyName("revision")]
    public string? Revision { get; init; }

    [JsonPropertyName("commit")]
    public string? Commit { get; init; }

    [JsonPropertyName("updatedAt")]
    public DateTimeOffset UpdatedAt { get; init; }

    [JsonPropertyName("files")]
    public Dictionary<string, FileState> Files { get; init; } = new(StringComparer.Ordinal);
}

internal sealed record FileState
{
    [JsonPropertyName("size")]
    public long Size { get; init; }

    [JsonPropertyName("etag")]
    public required string Etag { get; init; }

    [JsonPropertyName("commit")]
    public string? Commit { get; init; }

    /// <summary><c>complete</c> (verified and under its final name).</summary>
    [JsonPropertyName("status")]
    public required string Status { get; init; }

    /// <summary>The final file's last-write time when it was verified: a later change means it must be checked again.</summary>
    [JsonPropertyName("mtimeTicks")]
    public long MtimeTicks { get; init; }

    [JsonPropertyName("verifiedAt")]
    public DateTimeOffset? VerifiedAt { get; init; }

    /// <summary>For a partial file: the name of its temporary file, in the same folder as the final one.</summary>
    [JsonPropertyName("tempFile")]
    public string? TempFile { get; init; }

    /// <summary>For a partial file: byte ranges <c>[start, end)</c> of the temporary file that were written (in the page cache at least; see BigFileJob.Checkpoint).</summary>
    [JsonPropertyName("ranges")]
    public List<long[]>? Ranges { get; init; }

    /// <summary>
    /// For a partial file: when its transfer last gave up (failed for good, not stopped). Its bytes are kept for a later
    /// request to resume from, but nothing resumes it by itself (<c>hfdl serve</c> resumes at its start only the
    /// transfers that were in flight). A transfer that writes again records the file afresh, without it.
    /// </summary>
    [JsonPropertyName("failedAt")]
    public DateTimeOffset? FailedAt { get; init; }

    public const string Complete = "complete";
    public const string Partial = "partial";
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DownloadState))]
internal sealed partial class StateJsonContext : JsonSerializerContext;

/// <summary>Loads, validates and atomically saves the journal of one repo folder.</summary>
internal sealed class DownloadStateStore
{
    private readonly object _gate = new();
    private DownloadState _state;

    private DownloadStateStore(string folder, DownloadState state, string? warning)
    {
        Folder = folder;
        _state = state;
        LoadWarning = warning;
    }

    public string Folder { get; }

    public string StatePath => Path.Combine(Folder, DownloadState.FileName);

    /// <summary>Set when an existing state file was not trusted and set aside.</summary>
    public string? LoadWarning { get; }

    public DownloadState Current
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>
    /// Opens the journal of <paramref name="folder"/>. A file that fails validation (garbage, truncated, another
    /// schema or another repo) is renamed to <c>.download_state.invalid-&lt;time&gt;</c> and a fresh journal starts;
    /// files on disk are then verified by hash before they count as complete. A link in place of the journal is not
    /// trusted either (it is renamed aside, never written through). With <paramref name="readOnly"/> (a dry run)
    /// nothing is renamed: an untrusted file is only reported.
    /// </summary>
    public static DownloadStateStore Open(string folder, RepoType type, RepoId id, TimeProvider time, bool readOnly = false)
    {
        var path = Path.Combine(folder, DownloadState.FileName);
        var fresh = new DownloadState { RepoType = type.Name(), RepoId = id.Value, UpdatedAt = time.GetUtcNow() };
        var link = SafeFileSystem.LinkTarget(path);
        if (link is null && Directory.Exists(path))
        {
            // Not something hfdl could set aside and replace safely (it may hold anything): the user decides.
            throw new HfdlException($"'{Hub.SafeText.Printable(path)}' is a folder, where hfdl keeps the journal of this download; move it away and run the same command again.");
        }
        if (link is null && !File.Exists(path))
        {
            return new DownloadStateStore(folder, fresh, null);
        }
        string? problem;
        DownloadState? loaded = null;
        if (link is not null)
        {
            // hfdl writes its journal by renaming a new file over it, so a link here was put by someone else.
            problem = $"it is a symbolic link (to '{Hub.SafeText.Printable(link)}'), which hfdl never reads or writes through";
        }
        else
        {
            try
            {
                var bytes = SafeFileSystem.ReadRegularFile(path);
                loaded = JsonSerializer.Deserialize(bytes, StateJsonContext.Default.DownloadState);
                problem = Validate(loaded, type, id);
            }
            catch (JsonException ex)
            {
                problem = $"it is not valid JSON ({ex.Message})";
            }
            catch (IOException ex)
            {
                problem = $"it could not be read ({ex.Message})";
            }
        }
        if (problem is null)
        {
            return new DownloadStateStore(folder, loaded! with { Files = new Dictionary<string, FileState>(loaded!.Files, StringComparer.Ordinal) }, null);
        }
        if (readOnly)
        {
            return new DownloadStateStore(folder, fresh, $"The download state {path} is not trusted ({problem}); a download would set it aside and verify the files on disk by hash.");
        }
        var aside = $"{path}.invalid-{time.GetUtcNow():yyyyMMddTHHmmss}";
        try
        {
            File.Move(path, aside, overwrite: true);
        }
        catch (IOException)
        {
            aside = path;
        }
        return new DownloadStateStore(folder, fresh,
            $"The download state {path} was not trusted ({problem}); it was set aside as {Path.GetFileName(aside)} and files already on disk will be verified by hash.");
    }

    private static string? Validate(DownloadState? state, RepoType type, RepoId id)
    {
        if (state is null)
        {
            return "it is empty";
        }
        if (state.Schema != DownloadState.SchemaName || state.Version != DownloadState.CurrentVersion)
        {
            return $"its schema is '{state.Schema}' version {state.Version}, expected '{DownloadState.SchemaName}' version {DownloadState.CurrentVersion}";
        }
        // Repo ids are case-insensitive on the Hub: `Org/Model` after `org/model` is the same repo, the same journal.
        if (state.RepoType != type.Name() || !string.Equals(state.RepoId, id.Value, StringComparison.OrdinalIgnoreCase))
        {
            return $"it belongs to {state.RepoType} '{state.RepoId}', not {type.Name()} '{id}'";
        }
        if (state.Files is null)
        {
            return "it has no file table";
        }
        foreach (var (path, file) in state.Files)
        {
            if (file is null || file.Size is < 0 or > Hub.FileSizes.MaxFileSize || string.IsNullOrEmpty(file.Etag) || string.IsNullOrEmpty(path)
                || file.Status is not (FileState.Complete or FileState.Partial))
            {
                return $"its entry for '{path}' is malformed";
            }
            if (file.Status == FileState.Partial)
            {
                // A temp name must be a bare file name (never a path), and ranges must lie inside the file.
                if (file.TempFile is null || file.TempFile.Contains('/') || file.TempFile.Contains('\\') || file.TempFile is "." or ".."
                    || !file.TempFile.EndsWith(".hfdl-part", StringComparison.Ordinal)
                    || file.Ranges is null || file.Ranges.Any(r => r is null || r.Length != 2 || r[0] < 0 || r[1] < r[0] || r[1] > file.Size)
                    || Overlap(file.Ranges))
                {
                    return $"its partial entry for '{path}' is malformed";
                }
                if (file.Ranges.Count > MaxRanges(file.Size))
                {
                    return $"its partial entry for '{path}' records {file.Ranges.Count:N0} separate ranges, more than a download of the file can leave";
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The most separate written ranges a run can record for a file of <paramref name="size"/> bytes. Every range starts
    /// where a piece of work started: a segment or a stolen tail (cut at 64 KiB boundaries, segments being at least
    /// the chunk size, itself at least 64 KiB), or a native Xet term (whose chunks are at least 8 KiB, but the file's
    /// last), and ranges that touch are merged. So at most one range per 8 KiB plus one per 64 KiB, and a few ends:
    /// one per 4 KiB and 64 more is a bound no real run reaches. More (a hand edit, a hostile folder: a million ranges
    /// made a run crawl for hours, each a request of its own, with a 1.4 GB table) is not trusted.
    /// </summary>
    internal static long MaxRanges(long size) => size / 4096 + 64;

    /// <summary>
    /// Whether written ranges overlap. hfdl records them sorted and merged; overlapping ones come from a hand-edited
    /// file, and their sum could pass the file's size (or overflow).
    /// </summary>
    private static bool Overlap(List<long[]> ranges)
    {
        var sorted = ranges.OrderBy(r => r[0]).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i][0] < sorted[i - 1][1])
            {
                return true;
            }
        }
        return false;
    }

    public FileState? Get(string path)
    {
        lock (_gate)
        {
            return _state.Files.GetValueOrDefault(path);
        }
    }

    public void Update(Func<DownloadState, DownloadState> change)
    {
        lock (_gate)
        {
            _state = change(_state);
        }
    }

    public void SetFile(string path, FileState? file)
    {
        lock (_gate)
        {
            if (file is null)
            {
                _state.Files.Remove(path);
            }
            else
            {
                _state.Files[path] = file;
            }
        }
    }

    /// <summary>
    /// Writes the journal atomically (temp file, rename): readers see the old or the new journal, never a torn one.
    /// With <paramref name="durable"/> it is flushed to disk first (the end of a run); without, it is only in the page
    /// cache, which outlives a killed hfdl (the saves during a run: no fsync storm).
    /// </summary>
    /// <returns>The bytes written.</returns>
    public int Save(TimeProvider time, bool durable = true)
    {
        byte[] bytes;
        lock (_gate)
        {
            _state = _state with { UpdatedAt = time.GetUtcNow() };
            bytes = JsonSerializer.SerializeToUtf8Bytes(_state, StateJsonContext.Default.DownloadState);
        }
        lock (this)
        {
            try
            {
                AtomicFile.WriteAllBytes(Folder, StatePath, bytes, durable);
                return bytes.Length;
            }
            catch (IOException ex) when (Transfer.TransientFaults.IsDiskFull(ex))
            {
                throw new Transfer.DiskFullException(StatePath, ex);
            }
        }
    }
}

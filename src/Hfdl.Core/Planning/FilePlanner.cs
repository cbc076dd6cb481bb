using Hfdl.Core.Hub;

namespace Hfdl.Core.Planning;

/// <summary>Turns the Hub's listing of a commit into the list of files to consider.</summary>
internal static class FilePlanner
{
    /// <summary>
    /// Lists every file at <paramref name="commit"/> with the tree API, names hfdl will not write included (marked with
    /// <see cref="RemoteFile.WriteProblem"/>; the selection refuses them). If the server has no usable tree API (an old
    /// mirror), falls back to repo-info siblings, and to a HEAD per file for sizes or hashes the siblings lack.
    /// </summary>
    public static Task<List<RemoteFile>> ListFilesAsync(HubClient client, RepoType type, RepoId id, string commit, CancellationToken cancellationToken) =>
        ListFilesAsync(client, type, id, commit, null, cancellationToken);

    /// <inheritdoc cref="ListFilesAsync(HubClient, RepoType, RepoId, string, CancellationToken)"/>
    /// <param name="onListed">Told how many files are listed so far, every <see cref="Progress.ListingProgress.Every"/> files.</param>
    public static async Task<List<RemoteFile>> ListFilesAsync(HubClient client, RepoType type, RepoId id, string commit, Action<int>? onListed, CancellationToken cancellationToken)
    {
        var files = new List<RemoteFile>();
        // Checked as the pages come: a server that repeats its entries on page after page, with ever new links, is
        // stopped at its first repeat, not after millions of entries.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await foreach (var entry in client.ListTreeAsync(type, id, commit, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (RemoteFile.FromTreeEntry(entry) is { } file)
                {
                    if (!seen.Add(file.Path))
                    {
                        throw Duplicate(file.Path);
                    }
                    files.Add(file);
                    if (files.Count % Progress.ListingProgress.Every == 0)
                    {
                        onListed?.Invoke(files.Count);
                    }
                }
            }
        }
        catch (HubException ex) when (IsMissingTreeApi(ex))
        {
            return await FromSiblingsAsync(client, type, id, commit, cancellationToken).ConfigureAwait(false);
        }
        FileSizes.Total(files.Select(f => f.Size), $"{type.Name()} '{id}'");
        return files;
    }

    private static bool IsMissingTreeApi(HubException ex) =>
        ex.GetType() == typeof(HubException) && (int?)ex.StatusCode is 404 or 405 or 501;

    private static async Task<List<RemoteFile>> FromSiblingsAsync(HubClient client, RepoType type, RepoId id, string commit, CancellationToken cancellationToken)
    {
        var info = await client.GetRepoInfoAsync(type, id, commit, filesMetadata: true, cancellationToken).ConfigureAwait(false);
        var files = new List<RemoteFile>();
        foreach (var sibling in info.Siblings ?? [])
        {
            var writeProblem = RemoteFile.WriteProblemOf(sibling.RFilename);
            var lfsHash = sibling.Lfs?.Sha256;
            var etag = lfsHash ?? sibling.BlobId;
            var size = sibling.Lfs?.Size ?? sibling.Size;
            if (etag is null || size is null || !Integrity.ContentHash.TryFromEtag(etag, out _))
            {
                // The fallback of the fallback: the resolve HEAD always says size and etag.
                var metadata = await client.GetFileMetadataAsync(type, id, commit, sibling.RFilename, listed: true, cancellationToken).ConfigureAwait(false);
                etag = metadata.Etag;
                size = metadata.Size;
            }
            if (!Integrity.ContentHash.TryFromEtag(etag, out var hash))
            {
                throw new HubProtocolException($"The Hub gave no usable hash for '{sibling.RFilename}' (etag '{etag}'), so it cannot be verified.");
            }
            FileSizes.Check(sibling.RFilename, size.Value);
            files.Add(new RemoteFile(sibling.RFilename, size.Value, hash, hash.Kind == Integrity.HashKind.Sha256) { WriteProblem = writeProblem });
        }
        CheckDuplicates(files);
        FileSizes.Total(files.Select(f => f.Size), $"{type.Name()} '{id}'");
        return files;
    }

    private static void CheckDuplicates(List<RemoteFile> files)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (!seen.Add(file.Path))
            {
                throw Duplicate(file.Path);
            }
        }
    }

    private static HubProtocolException Duplicate(string path) =>
        new($"The Hub listed '{SafeText.Printable(path)}' twice; the listing cannot be trusted. Try again later.");

    /// <summary>What a refusal of an unwritable name advises (the CLI says it in its options' words).</summary>
    internal const string LeaveOutAdvice = "leave it out of the selection to download the rest";

    /// <summary>
    /// Refuses the first of <paramref name="files"/> whose name hfdl will not write (<see cref="RemoteFile.WriteProblem"/>).
    /// Called on the selected files only, so such a name in a repo does not keep the rest from being listed or
    /// downloaded; nothing reaches the disk before this.
    /// </summary>
    public static void RefuseUnwritable(IEnumerable<RemoteFile> files)
    {
        if (files.FirstOrDefault(f => f.WriteProblem is not null) is { WriteProblem: { } problem } unwritable)
        {
            throw new UnsafePathException(unwritable.Path, problem, LeaveOutAdvice + "; if this repo is genuine, report it to its owners");
        }
    }

    /// <summary>True when some listed file lies below <paramref name="name"/> (a folder's name written without its '/').</summary>
    internal static bool IsFolder(IReadOnlyList<RemoteFile> files, string name) =>
        files.Any(f => f.Path.Length > name.Length && f.Path[name.Length] == '/' && f.Path.StartsWith(name, StringComparison.Ordinal));

    /// <summary>Keeps the files the user named: exact paths, or folders (with or without a trailing <c>/</c>).</summary>
    public static List<RemoteFile> Select(IReadOnlyList<RemoteFile> files, IReadOnlyList<string> selection, RepoType type, RepoId id, string revision, string? commit = null)
    {
        if (selection.Count == 0)
        {
            return files as List<RemoteFile> ?? [.. files];
        }
        var byPath = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        var selected = new List<RemoteFile>();
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var wanted in selection)
        {
            var isFolder = wanted.EndsWith('/');
            var matches = isFolder
                ? files.Where(f => f.Path.StartsWith(wanted, StringComparison.Ordinal)).ToList()
                : files.Where(f => f.Path == wanted).ToList();
            if (!isFolder && matches.Count == 0)
            {
                // A folder's name without its '/' (`onnx`, or an hf:// path, which does not say which it is) selects
                // the folder: git cannot hold a file and a folder of one name, so nothing else could be meant.
                matches = files.Where(f => f.Path.StartsWith(wanted + "/", StringComparison.Ordinal)).ToList();
            }
            if (matches.Count == 0)
            {
                throw new EntryNotFoundException(
                    isFolder
                        ? $"Folder '{wanted}' does not exist or is empty in {type.Name()} '{id}' at revision '{revision}'. Check the name in the repo's file list."
                        : $"File '{wanted}' does not exist in {type.Name()} '{id}' at revision '{revision}' (nor a folder of that name). Check the name in the repo's file list.",
                    System.Net.HttpStatusCode.NotFound, null, null, commit)
                {
                    MissingFiles = [.. selection.Where(f => !f.EndsWith('/') && !byPath.Contains(f) && !IsFolder(files, f) && RepoFilePath.TryValidate(f, out _))],
                };
            }
            foreach (var match in matches)
            {
                if (chosen.Add(match.Path))
                {
                    selected.Add(match);
                }
            }
        }
        return selected;
    }
}

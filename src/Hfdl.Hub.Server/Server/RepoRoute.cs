namespace Hfdl.Hub.Server;

/// <summary>
/// A request path taken apart: repo type, repo id (found by asking the store which ids exist, so legacy
/// single-segment ids work), and what follows the id.
/// </summary>
internal sealed record RepoRoute(
    RepoType Type,
    string RepoId,
    HostedRepo? Repo,
    int IdStart,
    int IdLength,
    string[] Rest,
    string[] RawRest)
{
    /// <summary>
    /// Splits <paramref name="segments"/> (from <paramref name="start"/>) into repo id and rest. An id of two segments
    /// wins if that repo exists, then one segment; for a missing repo, the position of a route keyword decides.
    /// </summary>
    public static RepoRoute? Parse(
        IRepoStore store,
        RepoType type,
        string[] segments,
        string[] rawSegments,
        int start,
        IReadOnlySet<string> keywords)
    {
        var count = segments.Length - start;
        if (count < 1)
        {
            return null;
        }
        HostedRepo? repo = null;
        int length;
        if (count >= 2 && IsIdPart(segments[start]) && IsIdPart(segments[start + 1])
            && (repo = store.FindRepo(type, segments[start] + "/" + segments[start + 1])) is not null
            && !(count > 2 && !keywords.Contains(segments[start + 2]) && keywords.Contains(segments[start + 1])
                && store.FindRepo(type, segments[start]) is not null))
        {
            // Both "a/b" and legacy "a" exist: "a/b" wins unless only "a" followed by a route keyword makes sense.
            length = 2;
        }
        else if ((repo = IsIdPart(segments[start]) ? store.FindRepo(type, segments[start]) : null) is not null)
        {
            length = 1;
        }
        else
        {
            length = count >= 2 && !keywords.Contains(segments[start + 1]) ? 2 : 1;
        }
        var id = string.Join('/', segments.Skip(start).Take(length));
        return new RepoRoute(
            type,
            repo?.Id ?? id,
            repo,
            start,
            length,
            segments[(start + length)..],
            rawSegments[(start + length)..]);
    }

    private static bool IsIdPart(string segment) => segment.Length > 0 && !segment.Contains('/');

    /// <summary>
    /// Reads a revision at <paramref name="index"/> of <see cref="Rest"/>. It is normally one (decoded) segment;
    /// a literal <c>refs/pr/1</c> or a branch name with slashes is recognised when it names a ref of the repo.
    /// Returns the revision and the index after it.
    /// </summary>
    public (string Revision, int Next) ReadRevision(int index)
    {
        var first = Rest[index];
        if (Repo is not null && !first.Contains('/'))
        {
            for (var end = Rest.Length; end > index + 1; end--)
            {
                var candidate = string.Join('/', Rest[index..end]);
                if (Repo.Revisions.Any(r => r.Name == candidate))
                {
                    return (candidate, end);
                }
            }
        }
        if (first == "refs" && Rest.Length > index + 2 && Rest[index + 1] is "pr" or "convert")
        {
            return (string.Join('/', Rest[index..(index + 3)]), index + 3);
        }
        return (first, index + 1);
    }
}

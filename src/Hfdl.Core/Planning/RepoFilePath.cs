namespace Hfdl.Planning;

/// <summary>
/// Checks a file path that came from a server before it touches the disk: it must stay inside the target folder on
/// every operating system. Rejects <c>..</c> and <c>.</c> segments, empty segments, absolute paths, drive letters, UNC
/// paths, backslashes, NUL and control characters, and names Windows cannot hold.
/// </summary>
public static class RepoFilePath
{
    private const int MaxLength = 4096;
    private const int MaxSegmentLength = 255;

    public static bool TryValidate(string? path, out string? problem)
    {
        problem = Problem(path);
        return problem is null;
    }

    public static void Validate(string? path)
    {
        if (Problem(path) is { } problem)
        {
            throw new Hub.UnsafePathException(path, problem);
        }
    }

    private static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "the name is empty";
        }
        if (path.Length > MaxLength)
        {
            return "the name is too long";
        }
        foreach (var c in path)
        {
            if (c == '\0' || char.IsControl(c))
            {
                return "it contains a NUL or control character";
            }
            if (c == '\\')
            {
                return "it contains a backslash";
            }
        }
        if (path[0] == '/')
        {
            return "it is an absolute path";
        }
        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':')
        {
            return "it starts with a drive letter";
        }
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0)
            {
                return "it has an empty folder name ('//' or a trailing '/')";
            }
            if (segment is "." or "..")
            {
                return $"it has a '{segment}' segment, which would leave the target folder";
            }
            if (segment.Length > MaxSegmentLength)
            {
                return "a part of it is longer than 255 characters";
            }
        }
        return null;
    }
}

namespace Hfdl.Core.Xet;

/// <summary>
/// Xet data from a server (a reconstruction, a xorb range, a shard) that breaks the format or contradicts itself. The
/// message says what was wrong, as a sentence; the caller decides whether to retry or to fetch the file another way.
/// </summary>
internal sealed class XetFormatException(string message, Exception? innerException = null)
    : HfdlException(message + " The server's Xet data cannot be used as it is; try again later.", innerException);

using System.Runtime.InteropServices;

namespace Hfdl.Cli;

/// <summary>
/// Makes sure stdin, stdout and stderr are open before anything else runs. A process started with one of them closed
/// (<c>hfdl ... &gt;&amp;-</c>, some service managers) would otherwise crash on its first write (.NET's console
/// refuses a closed descriptor with an exception), and worse, the next file hfdl opened would get that descriptor's
/// number, so whatever hfdl printed would land in a downloaded file. A closed one is opened on /dev/null: what would
/// have been printed there is dropped, as the caller asked, and the exit code still tells.
/// </summary>
internal static class StandardStreams
{
    private const int GetDescriptorFlags = 1; // F_GETFD
    private const int GetStatusFlags = 3; // F_GETFL
    private const int AccessModeMask = 3; // O_ACCMODE
    private const int WriteOnly = 1; // O_WRONLY
    private const int ReadWrite = 2; // O_RDWR
    private const int BadDescriptor = 9; // EBADF

    public static void EnsureOpen()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }
        for (var descriptor = 0; descriptor <= 2; descriptor++)
        {
            if (Fcntl(descriptor, GetDescriptorFlags) == -1 && Marshal.GetLastPInvokeError() == BadDescriptor)
            {
                // open() returns the lowest free number: this one, as the ones below it are open by now.
                _ = Open("/dev/null", ReadWrite);
            }
        }
    }

    /// <summary>stdout, or a writer that drops everything when stdout cannot be written.</summary>
    public static TextWriter Out => Writable(1) ? Console.Out : TextWriter.Null;

    /// <summary>stderr, or a writer that drops everything when stderr cannot be written.</summary>
    public static TextWriter Error => Writable(2) ? Console.Error : TextWriter.Null;

    /// <summary>
    /// False when <paramref name="descriptor"/> is closed or open for reading only: under <c>dotnet hfdl.dll</c> the
    /// runtime starts before <see cref="EnsureOpen"/> and may have put a pipe of its own on a closed stdout's number,
    /// which must then be left alone and never written.
    /// </summary>
    private static bool Writable(int descriptor)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return true;
        }
        var flags = Fcntl(descriptor, GetStatusFlags);
        return flags != -1 && (flags & AccessModeMask) is WriteOnly or ReadWrite;
    }

#pragma warning disable SYSLIB1054 // Blittable arguments only: DllImport needs no generated marshalling (and no unsafe code).
    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int descriptor, int command);

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int Open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);
#pragma warning restore SYSLIB1054
}

using Microsoft.Win32.SafeHandles;

namespace Hfdl.Cli;

/// <summary>
/// Puts the terminal's keypad back in its normal mode when hfdl exits. On Unix, .NET's console switches it to
/// application mode (terminfo keypad_xmit, <c>ESC[?1h ESC=</c>) the first time the console is used (any write to
/// <c>Console.Out</c> or <c>Console.Error</c>, even to /dev/null, <c>Console.In</c>, <c>Console.WindowWidth</c>,
/// <c>Console.CancelKeyPress</c>) and never switches it back (dotnet/corefx#32805), so after any hfdl command the cursor
/// keys of some shells (ksh) and readline setups sent <c>ESC O A</c> where they expect <c>ESC [ A</c>. At exit this
/// writes keypad_local as xterm, screen, tmux and VTE have it (<c>ESC[?1l ESC&gt;</c>: the terminal's defaults, so
/// harmless where .NET switched nothing) to the terminal .NET writes to: stdout if it is one, else stdin.
/// </summary>
internal static class TerminalKeypad
{
    private static ReadOnlySpan<byte> KeypadLocal => "\u001b[?1l\u001b>"u8;

    /// <summary>Restores the keypad when the process exits (returning from Main or Environment.Exit).</summary>
    public static void RestoreAtExit()
    {
        if (OperatingSystem.IsWindows()
            || Environment.GetEnvironmentVariable("TERM") is not { Length: > 0 } term
            || term.Equals("dumb", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }
        int? terminal = !Console.IsOutputRedirected ? 1 : !Console.IsInputRedirected ? 0 : null;
        if (terminal is { } fd)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Restore(fd);
        }
    }

    private static void Restore(int fd)
    {
        try
        {
            using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            stream.Write(KeypadLocal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // The terminal is gone (SIGHUP) or not writable: nothing to restore.
        }
    }
}

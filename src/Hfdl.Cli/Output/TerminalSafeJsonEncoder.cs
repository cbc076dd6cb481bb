using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using Hfdl.Core.Hub;

namespace Hfdl.Cli.Output;

/// <summary>
/// The JSON encoder of <c>--json</c>: as readable as <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> (other
/// scripts and quotes stay as they are), but it also escapes what that one lets through raw and a terminal would act on
/// or hide: bidirectional overrides and isolates, zero-width and other format characters (<see cref="SafeText.IsHidden"/>),
/// as <c>\uXXXX</c>. So <c>hfdl ... --json | cat</c> never shows a name other than as it is.
/// </summary>
internal sealed class TerminalSafeJsonEncoder : JavaScriptEncoder
{
    public static TerminalSafeJsonEncoder Instance { get; } = new();

    private static readonly JavaScriptEncoder Relaxed = UnsafeRelaxedJsonEscaping;

    // Escapes every non-ASCII character as \uXXXX (a surrogate pair for the others).
    private static readonly JavaScriptEncoder Strict = Default;

    private TerminalSafeJsonEncoder()
    {
    }

    public override int MaxOutputCharactersPerInputCharacter =>
        Math.Max(Relaxed.MaxOutputCharactersPerInputCharacter, Strict.MaxOutputCharactersPerInputCharacter);

    public override bool WillEncode(int unicodeScalar) =>
        Relaxed.WillEncode(unicodeScalar) || (Rune.IsValid(unicodeScalar) && SafeText.IsHidden(new Rune(unicodeScalar)));

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        var span = new ReadOnlySpan<char>(text, textLength);
        for (var i = 0; i < span.Length;)
        {
            if (Rune.DecodeFromUtf16(span[i..], out var rune, out var consumed) != OperationStatus.Done || WillEncode(rune.Value))
            {
                return i;
            }
            i += consumed;
        }
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten) =>
        (Rune.IsValid(unicodeScalar) && SafeText.IsHidden(new Rune(unicodeScalar)) ? Strict : Relaxed)
            .TryEncodeUnicodeScalar(unicodeScalar, buffer, bufferLength, out numberOfCharactersWritten);
}

using Hfdl.Core.Hub;

namespace Hfdl.Core.Planning;

/// <summary>Sums of sizes a server listed: an overflow is the server's nonsense, refused with a sentence, never a crash.</summary>
internal static class Checked
{
    public static long Sum(IEnumerable<long> values)
    {
        var total = 0L;
        foreach (var value in values)
        {
            try
            {
                total = checked(total + value);
            }
            catch (OverflowException ex)
            {
                throw new HubProtocolException("The sizes the Hub listed add up to more than 8 EB, which no repo holds; the listing cannot be trusted. Try again later, or report it to the server's operator.", ex);
            }
        }
        return total;
    }
}

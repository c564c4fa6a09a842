namespace Iser.Transport.Iser.Verbs;

/// <summary>Turns a post's return code and bad_wr into how many WRs of the chain were posted.</summary>
internal static unsafe class PostChain
{
    internal static PostResult Result(IbvSendWr* first, IbvSendWr* bad, int rc)
    {
        int requested = 0;
        int posted = -1;
        for (IbvSendWr* wr = first; wr != null; wr = wr->Next)
        {
            if (wr == bad && posted < 0)
            {
                posted = requested;
            }

            requested++;
        }

        return Build(requested, posted, bad != null, rc);
    }

    internal static PostResult Result(IbvRecvWr* first, IbvRecvWr* bad, int rc)
    {
        int requested = 0;
        int posted = -1;
        for (IbvRecvWr* wr = first; wr != null; wr = wr->Next)
        {
            if (wr == bad && posted < 0)
            {
                posted = requested;
            }

            requested++;
        }

        return Build(requested, posted, bad != null, rc);
    }

    private static PostResult Build(int requested, int postedBeforeBad, bool badNamed, int rc)
    {
        if (rc == 0)
        {
            return new PostResult(requested, requested, 0);
        }

        // A provider that fails without naming a WR of the chain is taken to have posted nothing:
        // the caller then keeps every reference, which can only leak, never double-free.
        int posted = badNamed && postedBeforeBad >= 0 ? postedBeforeBad : 0;
        return new PostResult(posted, requested, Math.Abs(rc)); // providers answer errno, some negated
    }
}

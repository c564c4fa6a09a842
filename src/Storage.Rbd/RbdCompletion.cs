namespace Iser.Storage.Rbd;

/// <summary>What an asynchronous librbd request ended with: its return value (-errno on failure) and, for COMPARE AND WRITE, where the data first differed.</summary>
internal readonly record struct RbdCompletion(long ReturnValue, ulong MismatchOffset);

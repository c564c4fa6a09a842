namespace Iser.Core.Datamover;

/// <summary>
/// ErrorRecoveryLevel 1, initiator: Data-In PDUs of a task that did not arrive whole (a DataSN gap, a data digest
/// error), reported by the datamover on the Data-In header it hands up (<c>Pdu.Context</c>), so the core asks for them
/// again with a Data SNACK for [<see cref="BegRun"/>, BegRun + <see cref="RunLength"/>).
/// </summary>
public sealed record DataInGap(uint BegRun, uint RunLength, string Reason);

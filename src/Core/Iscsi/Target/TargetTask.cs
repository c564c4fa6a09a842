using System.Buffers;
using Iser.Core.Datamover;
using Iser.Core.Iscsi.Pdus;
using Iser.Core.Scsi.Target;
using Iser.Core.Scsi.Target.Reservations;

namespace Iser.Core.Iscsi.Target;

/// <summary>
/// One SCSI command at the target: what the datamover tracks (<see cref="DataTask"/>), what the logical unit sees
/// (<see cref="IScsiTask"/>), and the owner of its pooled buffers until its final PDU is on the wire.
/// Instances are pooled per connection.
/// </summary>
internal sealed class TargetTask : DataTask, IScsiTask, IPduSentNotification
{
    private readonly byte[] _cdb = new byte[260];
    private int _cdbLength;
    private byte[]? _writeBuffer;
    private byte[]? _readBuffer;
    // Registered memory the datamover lent for the read data (Put_Data then sends it without a copy), when it had one.
    private Memory<byte> _lentReadBuffer;
    private bool _readIntoLent;
    private CancellationTokenSource _cancellation = new();

    public TargetConnection? Connection;
    /// <summary>Set by ABORT TASK / LU reset: the task ends without a response.</summary>
    public volatile bool Aborted;
    /// <summary>Bytes the LU asked for with ReceiveDataOutAsync beyond EDTL (an overflow the initiator must hear of).</summary>
    public int DataOutOverflow;
    public ILogicalUnit? Unit;
    /// <summary>Non-immediate commands hold a CmdSN window slot until they finish.</summary>
    public bool ConsumesSlot;
    /// <summary>Set by a TMF that must answer only after this task has ended.</summary>
    public TaskCompletionSource? FinishedSignal;

    /// <summary>Handed to the logical unit (its CmdSN turn came); until then it waits in the session's sequencer.</summary>
    public volatile bool Started;
    /// <summary>The connection whose datamover collects this task's write data (Allocate_Connection_Resources was done there).</summary>
    public TargetConnection? DataConnection;
    /// <summary>ERL 2: a response lost with its connection was sent again by the connection that took the task over.</summary>
    public bool LostResponseResent;

    // ---- ErrorRecoveryLevel 2: a task whose connection failed (see OrphanedTasks), guarded by the session's orphan lock ----
    public bool Orphaned;
    /// <summary>Its status went (or was going) out on the failed connection: the new one sends data and status again.</summary>
    public bool OrphanedResultKnown;
    public long OrphanedTicks;
    public bool OrphanExpired;
    /// <summary>What the logical unit produced while the task had no connection.</summary>
    public ScsiCommandResult? PendingResult;
    /// <summary>A write waiting for data when its connection failed waits on this for the connection that takes it over.</summary>
    public TaskCompletionSource<TargetConnection>? ReassignSignal;

    // ---- What ErrorRecoveryLevel 1 keeps to send the status again (see TaskRetention) ----
    /// <summary>The StatSN its status went out with (stamped in wire order).</summary>
    public uint StatSN;
    /// <summary>True once the PDU carrying its status has been stamped.</summary>
    public bool StatusStamped;
    /// <summary>The status rode in the last Data-In (phase collapse): resending status means resending that PDU.</summary>
    public bool StatusInDataIn;
    public CollapsedStatus Collapsed;
    /// <summary>Bytes of read data sent (the Put_Data length), resendable while retained.</summary>
    public int DataInSent;
    /// <summary>The SCSI Response BHS as built (before stamping), when the status went in one.</summary>
    public readonly byte[] ResponseBhs = new byte[Pdu.BhsLength];
    /// <summary>The SCSI Response data segment (sense length + sense), when it had one.</summary>
    public ReadOnlyMemory<byte> ResponseData;
    /// <summary>Read data kept for a resend: the bytes retention holds for this task.</summary>
    public int RetainedDataLength => _readIntoLent ? 0 : DataInSent;

    ulong IScsiTask.Lun => Lun;

    /// <summary>
    /// The session's I_T nexus: initiator name and ISID, target IQN and portal group tag. A node has one SCSI target port
    /// per portal group, whose relative target port identifier is the TPGT.
    /// </summary>
    public ItNexus Nexus => Connection?.Session?.Nexus
        ?? throw new InvalidOperationException("A SCSI command outside a normal session has no I_T nexus.");

    /// <summary>The node's logical units (the session reached the node, so all of them): EXTENDED COPY's copy targets.</summary>
    public IEnumerable<ILogicalUnit> LogicalUnitsOfTarget => Connection?.Session?.Node?.Luns.Values ?? [];

    /// <summary>PREEMPT AND ABORT: the other tasks on this LUN of the nexuses selected, aborted (on every connection of the node).</summary>
    public ValueTask<int> AbortOtherTasksAsync(Func<ItNexus, bool> whose) =>
        Connection is { } connection ? new(connection.AbortLunTasksAsync(Lun, whose, except: this)) : ValueTask.FromResult(0);

    /// <summary>The target's ALUA states: the command's target port group is its nexus's TPGT.</summary>
    public Scsi.Target.Alua.AsymmetricAccessStates? AccessStates => Connection?.AccessStates;
    public ReadOnlyMemory<byte> Cdb => _cdb.AsMemory(0, _cdbLength);
    public CancellationToken CancellationToken => _cancellation.Token;
    public Memory<byte> WriteBuffer => _writeBuffer is null ? Memory<byte>.Empty : _writeBuffer.AsMemory(0, ExpectedDataOutLength);

    public void SetCdb(ReadOnlySpan<byte> first16, ReadOnlySpan<byte> extended)
    {
        first16.CopyTo(_cdb);
        extended.CopyTo(_cdb.AsSpan(16));
        _cdbLength = 16 + extended.Length;
    }

    /// <summary>Shortens the CDB view to the length its opcode's group code implies (SPC-4 §4.2.5.1), when known.</summary>
    public void TrimCdbToGroupLength()
    {
        if (_cdbLength != 16) return;
        int group = _cdb[0] >> 5;
        _cdbLength = group switch { 0 => 6, 1 or 2 => 10, 4 => 16, 5 => 12, _ => 16 };
    }

    public void AllocateWriteBuffer()
    {
        if (ExpectedDataOutLength > 0) _writeBuffer = ArrayPool<byte>.Shared.Rent(ExpectedDataOutLength);
    }

    public async ValueTask<ReadOnlyMemory<byte>> ReceiveDataOutAsync(int length, CancellationToken cancellationToken)
    {
        if (length <= 0) return ReadOnlyMemory<byte>.Empty;
        if (length > ExpectedDataOutLength)
        {
            // The command wants more than the initiator will send: residual overflow (RFC 7143 §11.4.5.2).
            DataOutOverflow = length - ExpectedDataOutLength;
            throw new DataOutOverflowException(length, ExpectedDataOutLength);
        }
        var connection = Connection!;
        if (!ReferenceEquals(DataConnection, connection))
        {
            // ERL 2: taken over (TASK REASSIGN) before it asked for its data: the new connection's datamover learns of
            // it now and asks for all of it (what came on the old connection is asked for again).
            connection.Datamover.BeginTask(this, ReassignedCommand.Instance, WriteBuffer);
            DataConnection = connection;
        }
        try
        {
            await connection.Datamover.GetDataAsync(this, length, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DatamoverException or OperationCanceledException && !cancellationToken.IsCancellationRequested
                                  && connection.Session is { Orphans: { } orphans })
        {
            // ERL 2: the connection failed while the data was on its way. The connection that takes the task over
            // (TASK REASSIGN) asks for all of it again; none comes within DefaultTime2Retain: the task ends.
            var next = await orphans.WaitForReassignmentAsync(this, cancellationToken).ConfigureAwait(false);
            next.Datamover.BeginTask(this, ReassignedCommand.Instance, WriteBuffer);
            DataConnection = next;
            await next.Datamover.GetDataAsync(this, length, cancellationToken).ConfigureAwait(false);
        }
        return _writeBuffer.AsMemory(0, length);
    }

    public Memory<byte> GetDataInBuffer(int length)
    {
        if (_lentReadBuffer.IsEmpty && Connection is { } connection)
            _lentReadBuffer = connection.Datamover.LendDataInBuffer(this, length);
        if (_lentReadBuffer.Length >= length)
        {
            _readIntoLent = true;
            return _lentReadBuffer[..length];
        }
        _readIntoLent = false;
        if (_readBuffer is null || _readBuffer.Length < length)
        {
            if (_readBuffer is not null) ArrayPool<byte>.Shared.Return(_readBuffer);
            _readBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 512));
        }
        return _readBuffer.AsMemory(0, length);
    }

    public ReadOnlyMemory<byte> DataInBuffer(int length) =>
        _readIntoLent ? _lentReadBuffer[..length] : _readBuffer is null ? ReadOnlyMemory<byte>.Empty : _readBuffer.AsMemory(0, length);

    /// <summary>The task is over (its store I/O included): a lent read buffer goes back to the datamover.</summary>
    public void ReturnLentBuffers()
    {
        if (_lentReadBuffer.IsEmpty) return;
        _lentReadBuffer = default;
        _readIntoLent = false;
        Connection?.Datamover.ReturnDataInBuffer(this);
    }

    /// <summary>
    /// The task's SCSI Response as kept for sending again (ERL 1 and 2): as first built, or made from the status that
    /// rode in its last Data-In. Sequence numbers are the caller's to set.
    /// </summary>
    public Pdu BuildStoredResponse()
    {
        var pdu = PduPool.Rent();
        if (StatusInDataIn)
        {
            var s = Collapsed;
            pdu.Opcode = IscsiOpcode.ScsiResponse;
            pdu.Flags = (byte)(0x80 | (s.Overflow ? 0x04 : 0) | (s.Underflow ? 0x02 : 0));
            pdu.Bhs[3] = s.ScsiStatus;
            pdu.InitiatorTaskTag = InitiatorTaskTag;
            pdu.Field36 = NextDataSN; // ExpDataSN: the Data-In sent
            pdu.Field44 = s.ResidualCount;
            return pdu;
        }
        ResponseBhs.CopyTo(pdu.Bhs);
        pdu.Field36 = IsRead ? NextDataSN : 0;
        if (!ResponseData.IsEmpty) pdu.SetData(ResponseData.Span);
        return pdu;
    }

    /// <summary>Write data is never sent back: a retained task gives its write buffer up at once.</summary>
    public void ReleaseWriteBuffer()
    {
        if (_writeBuffer is null) return;
        ArrayPool<byte>.Shared.Return(_writeBuffer);
        _writeBuffer = null;
    }

    public void Cancel()
    {
        Aborted = true;
        try { _cancellation.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    void IPduSentNotification.OnPduSent(Pdu pdu, Exception? error) => Connection?.OnFinalPduSent(this, error);

    /// <summary>Changes each time the task is reused: a late path holding it can tell it is no longer the same command.</summary>
    public int Generation;

    public override void ResetForReuse()
    {
        base.ResetForReuse();
        Generation++;
        Started = false;
        DataConnection = null;
        LostResponseResent = false;
        if (_writeBuffer is not null) { ArrayPool<byte>.Shared.Return(_writeBuffer); _writeBuffer = null; }
        if (_readBuffer is { Length: > 256 * 1024 }) { ArrayPool<byte>.Shared.Return(_readBuffer); _readBuffer = null; }
        _lentReadBuffer = default;
        _readIntoLent = false;
        if (!_cancellation.TryReset())
        {
            _cancellation.Dispose();
            _cancellation = new CancellationTokenSource();
        }
        Aborted = false;
        DataOutOverflow = 0;
        Unit = null;
        ConsumesSlot = false;
        FinishedSignal = null;
        Orphaned = false;
        OrphanedResultKnown = false;
        OrphanedTicks = 0;
        OrphanExpired = false;
        PendingResult = null;
        ReassignSignal = null;
        StatSN = 0;
        StatusStamped = false;
        StatusInDataIn = false;
        Collapsed = default;
        DataInSent = 0;
        ResponseData = default;
        _cdbLength = 0;
        SentNotification = this;
    }

    public TargetTask() => SentNotification = this;
}

/// <summary>
/// What Allocate_Connection_Resources sees for a write taken over by a new connection: no immediate data and no
/// unsolicited data to follow (F=1), so every byte is asked for by R2T there.
/// </summary>
internal static class ReassignedCommand
{
    public static readonly Pdu Instance = new() { Opcode = IscsiOpcode.ScsiCommand, Final = true };
}

/// <summary>A logical unit asked for more write data than the Expected Data Transfer Length allows.</summary>
internal sealed class DataOutOverflowException(int wanted, int expected)
    : Exception($"The command needs {wanted} bytes of write data but the initiator will send only {expected}.");

namespace Iser.Core.Iscsi.Pdus;

/// <summary>Function field of a Task Management Function Request (RFC 7143 §11.5.1), without the F bit.</summary>
public enum TaskManagementFunction : byte
{
    AbortTask = 1,
    AbortTaskSet = 2,
    ClearAca = 3,
    ClearTaskSet = 4,
    LogicalUnitReset = 5,
    TargetWarmReset = 6,
    TargetColdReset = 7,
    TaskReassign = 8,
}

public static class TaskManagementFunctionExtensions
{
    /// <summary>The SAM / RFC name, e.g. "ABORT TASK".</summary>
    public static string Name(this TaskManagementFunction function) => function switch
    {
        TaskManagementFunction.AbortTask => "ABORT TASK",
        TaskManagementFunction.AbortTaskSet => "ABORT TASK SET",
        TaskManagementFunction.ClearAca => "CLEAR ACA",
        TaskManagementFunction.ClearTaskSet => "CLEAR TASK SET",
        TaskManagementFunction.LogicalUnitReset => "LOGICAL UNIT RESET",
        TaskManagementFunction.TargetWarmReset => "TARGET WARM RESET",
        TaskManagementFunction.TargetColdReset => "TARGET COLD RESET",
        TaskManagementFunction.TaskReassign => "TASK REASSIGN",
        _ => $"TASK MANAGEMENT FUNCTION {(byte)function}",
    };

    public static string Describe(this TaskManagementFunction function) => function switch
    {
        TaskManagementFunction.AbortTask => "ABORT TASK aborts the one task named by its Referenced Task Tag.",
        TaskManagementFunction.AbortTaskSet => "ABORT TASK SET aborts every task this session has outstanding on the logical unit.",
        TaskManagementFunction.ClearAca => "CLEAR ACA clears an auto contingent allegiance condition on the logical unit.",
        TaskManagementFunction.ClearTaskSet => "CLEAR TASK SET aborts every task on the logical unit, from all initiators.",
        TaskManagementFunction.LogicalUnitReset => "LOGICAL UNIT RESET aborts all tasks on the logical unit and resets its state.",
        TaskManagementFunction.TargetWarmReset => "TARGET WARM RESET resets every logical unit of the target; sessions stay up.",
        TaskManagementFunction.TargetColdReset => "TARGET COLD RESET resets the target and drops all its connections.",
        TaskManagementFunction.TaskReassign => "TASK REASSIGN moves a task's allegiance to this connection after connection recovery.",
        _ => $"Task management function {(byte)function} is not defined by RFC 7143.",
    };
}

namespace Iser.Core.Iscsi.Pdus;

/// <summary>Response field of a Task Management Function Response (RFC 7143 §11.6.1).</summary>
public enum TaskManagementResponse : byte
{
    FunctionComplete = 0,
    TaskDoesNotExist = 1,
    LunDoesNotExist = 2,
    TaskStillAllegiant = 3,
    TaskAllegianceReassignmentNotSupported = 4,
    FunctionNotSupported = 5,
    FunctionAuthorizationFailed = 6,
    FunctionRejected = 255,
}

public static class TaskManagementResponseExtensions
{
    public static string Describe(this TaskManagementResponse response) => response switch
    {
        TaskManagementResponse.FunctionComplete => "The task management function completed.",
        TaskManagementResponse.TaskDoesNotExist => "The referenced task does not exist at the target (it may already have completed).",
        TaskManagementResponse.LunDoesNotExist => "The logical unit named in the request does not exist.",
        TaskManagementResponse.TaskStillAllegiant => "The task is still allegiant to its original connection, so it cannot be reassigned.",
        TaskManagementResponse.TaskAllegianceReassignmentNotSupported => "The target does not support reassigning task allegiance (it needs ErrorRecoveryLevel 2).",
        TaskManagementResponse.FunctionNotSupported => "The target does not support this task management function.",
        TaskManagementResponse.FunctionAuthorizationFailed => "The initiator is not authorized to perform this task management function.",
        TaskManagementResponse.FunctionRejected => "The target rejected the task management function.",
        _ => $"The target answered the task management function with response {(byte)response}, which RFC 7143 does not define.",
    };
}

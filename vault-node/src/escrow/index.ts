export {
  type AttemptResult,
  decodeCommand,
  type EscrowCommand,
  encodeCommand,
  MAX_COMMAND_BYTES,
  type ResetResult,
  type Status,
} from './commands.ts';
export {
  EscrowError,
  type EscrowHsm,
  type EscrowHttpResponse,
  EscrowService,
  type EscrowServiceOptions,
  handleEscrowRequest,
  type Propose,
} from './service.ts';
export { type EscrowRecord, EscrowStateMachine, type EscrowStateMachineOptions } from './state-machine.ts';

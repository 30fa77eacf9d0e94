package io.zte.client;

/** The record must not be acted on; {@link #reason()} is the reason Payments would give. */
public final class EventRejectedException extends Exception {
  private static final long serialVersionUID = 1L;
  private final Reason reason;

  EventRejectedException(Reason reason, String detail) {
    super(detail.isEmpty() ? reason.reasonName() : reason.reasonName() + ": " + detail);
    this.reason = reason;
  }

  /** Payments' reason for refusing the record. */
  public Reason reason() {
    return reason;
  }
}

"""Notifications: queued in the outbox with the step that causes them, delivered by the sender flow.

notify.outbox.enqueue queues them, notify.render renders them, notify.delivery.deliver_due sends.
"""

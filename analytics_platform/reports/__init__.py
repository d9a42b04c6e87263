"""Monthly reports: a report model read from the marts, its tie-outs, rendering and storage."""

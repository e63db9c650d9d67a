-- Log lines are pruned with the raw invocation records (metering.raw_retention_days): the
-- pruner deletes by time.
CREATE INDEX function_logs_by_time ON function_logs (at_ms);

-- A verification found the month's files equal to the raw month: the checksum DuckDB
-- computed for a file becomes its recorded one (only where none was recorded yet).
UPDATE archive.files SET checksum = %(checksum)s
WHERE raw_table = %(raw_table)s AND month = %(month)s AND path = %(path)s AND checksum IS NULL

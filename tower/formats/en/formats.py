# One date-time format everywhere, with the time zone (see settings.DATETIME_FORMAT).
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"

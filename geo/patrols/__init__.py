"""Patrols: GPS tracks of grid workers' walks, cleaned, and the buildings they passed."""
